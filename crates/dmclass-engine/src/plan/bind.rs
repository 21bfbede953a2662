//! Binding configured disks to devices, and reading what is on them.

use super::{Actual, DiskBinding};
use crate::error::io_err;
use crate::error::{EngineError, Result};
use crate::io::{Disks, Kernel};
use crate::metadata::read_area_at;
use crate::metadata::DiskIdentity;
use crate::names::UUID_PREFIX;
use dmclass_model::{Class, DiskSelector};
use dmclass_rules::{DiskFacts, Facts};
use std::path::{Path, PathBuf};

/// Read every bound disk's area and list dmclass's live dm devices.
pub fn read_actual(
    bindings: &[DiskBinding],
    disks: &dyn Disks,
    kernel: &dyn Kernel,
) -> Result<Actual> {
    let areas = bindings
        .iter()
        .map(|b| (b.name.clone(), read_area_at(&b.name, &b.path, disks)))
        .collect();
    let live = kernel
        .list()
        .map_err(|source| io_err("listing device-mapper devices", source))?
        .into_iter()
        .filter(|i| i.uuid.starts_with(UUID_PREFIX))
        .collect();
    let tables = bindings
        .iter()
        .map(|b| (b.name.clone(), crate::gpt::read_gpt(disks, &b.path)))
        .collect();
    Ok(Actual {
        areas,
        live,
        tables,
        node: None,
    })
}

fn norm(p: &Path) -> PathBuf {
    // udev records links relative to /dev (`disk/by-id/...`).
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new("/dev").join(p)
    }
}

/// The identity recorded for a disk: the selector's by-id path when it is one, else
/// the first by-id link (sorted), plus serial and WWN.
fn identity(sel: &DiskSelector, d: &DiskFacts) -> DiskIdentity {
    let is_by_id = |p: &Path| norm(p).starts_with("/dev/disk/by-id");
    let by_id = match sel {
        DiskSelector::Device(p) if is_by_id(p) => Some(norm(p)),
        _ => {
            let mut links: Vec<PathBuf> = d
                .links
                .iter()
                .filter(|l| is_by_id(l))
                .map(|l| norm(l))
                .collect();
            links.sort();
            links.into_iter().next()
        }
    };
    DiskIdentity {
        serial: d.serial.clone(),
        wwn: d.wwn.clone(),
        by_id: by_id.map(|p| p.to_string_lossy().into_owned()),
    }
}

/// Bind every disk of `class` to the one disk of `facts` its selector designates.
/// Refuses (naming the disk) when a selector matches nothing or several disks.
pub fn bind_disks(class: &Class, facts: &Facts) -> Result<Vec<DiskBinding>> {
    let mut out = Vec::with_capacity(class.disks.len());
    for disk in &class.disks {
        let hits: Vec<&DiskFacts> = facts
            .disks
            .iter()
            .filter(|d| dmclass_rules::disk_matches(&disk.selector, d))
            .collect();
        let d = match hits.as_slice() {
            [one] => *one,
            [] => {
                return Err(refuse(
                    class,
                    &disk.name.0,
                    "no disk on this machine matches its selector",
                ))
            }
            many => {
                let nodes: Vec<String> = many
                    .iter()
                    .map(|d| d.devnode.display().to_string())
                    .collect();
                return Err(refuse(
                    class,
                    &disk.name.0,
                    &format!("its selector matches several disks: {}", nodes.join(", ")),
                ));
            }
        };
        let devnum = match (d.properties.get("MAJOR"), d.properties.get("MINOR")) {
            (Some(a), Some(b)) => match (a.trim().parse(), b.trim().parse()) {
                (Ok(major), Ok(minor)) => Some(crate::io::DevNum { major, minor }),
                _ => None,
            },
            _ => None,
        };
        out.push(DiskBinding {
            name: disk.name.0.clone(),
            path: d.devnode.clone(),
            devnum,
            size: d.size,
            identity: identity(&disk.selector, d),
            sector_size: d
                .properties
                .get("LOGICAL_BLOCK_SIZE")
                .and_then(|v| v.trim().parse().ok())
                .filter(|s| matches!(s, 512 | 4096)),
        });
    }
    Ok(out)
}

fn refuse(class: &Class, disk: &str, reason: &str) -> EngineError {
    EngineError::refused(&class.name.0, format!("disk {disk}"), reason)
}
