//! Fencing a volume whose lease this node loses: every dm device of the volume gets an
//! `error` table, so no write reaches the disks after sanlock may hand the lease to
//! another node. Suspended without flushing (the storage may be what is gone: a flush
//! could hang), loaded, resumed: queued and new I/O fails at once.

use crate::error::{io_err, Result};
use crate::io::{Kernel, TargetLine, Visibility};
use dmclass_model::Sectors;
use uuid::Uuid;

/// Replace the table of every device of `volume` (in class `class`) by `error`; returns
/// the devices fenced. Devices already gone are nothing to fence.
pub fn fence_volume(kernel: &mut dyn Kernel, class: Uuid, volume: Uuid) -> Result<Vec<String>> {
    let mut fenced = Vec::new();
    let devices = kernel
        .list()
        .map_err(|e| io_err("listing dm devices".to_string(), e))?;
    for d in devices {
        let layer = match crate::names::parse_dm_uuid(&d.uuid) {
            Some((c, v, layer)) if c == class && v == volume => layer,
            _ => continue,
        };
        let visibility = if layer.is_empty() {
            Visibility::Public
        } else {
            Visibility::Private
        };
        let table = kernel
            .table(&d.name)
            .map_err(|e| io_err(format!("reading the table of {}", d.name), e))?;
        let len = table
            .iter()
            .fold(0u64, |acc, l| acc.saturating_add(l.len.0));
        let error = [TargetLine {
            start: Sectors(0),
            len: Sectors(len),
            target: "error".into(),
            params: String::new(),
        }];
        kernel
            .suspend(&d.name, true)
            .map_err(|e| io_err(format!("suspending {}", d.name), e))?;
        kernel
            .load(&d.name, &error, false)
            .map_err(|e| io_err(format!("loading an error table into {}", d.name), e))?;
        kernel
            .resume(&d.name, visibility)
            .map_err(|e| io_err(format!("resuming {}", d.name), e))?;
        fenced.push(d.name);
    }
    Ok(fenced)
}
