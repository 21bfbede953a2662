//! Where a shared class's lease area goes ([`crate::lease::area`]): placed when the
//! class is created, before any volume; and the lease slot of each volume.

use crate::alloc::Allocator;
use crate::error::{EngineError, Result};
use crate::lease::area::{LeaseArea, SLOTS};
use crate::lease::{Geometry, LeaseLayout};
use crate::metadata::{ClassMeta, ClassTypeMeta, DiskRoleMeta};
use crate::plan::DiskBinding;
use dmclass_model::Sectors;
use std::collections::BTreeMap;

/// Give a shared class its lease area when it has none: on the first data disk with
/// room, the geometry fitting its sector size and the largest host id. Returns a line
/// for the plan, or `None` when nothing changed (not shared, or already there).
pub fn plan_area(meta: &mut ClassMeta, bindings: &[DiskBinding]) -> Result<Option<String>> {
    if meta.class_type != ClassTypeMeta::Shared || meta.leases.is_some() {
        return Ok(None);
    }
    let largest = meta
        .cluster_nodes()
        .and_then(|n| n.iter().map(|n| n.host_id).max())
        .ok_or_else(|| refuse(meta, "it lists no nodes (or their host ids do not fit)"))?;
    let mut alloc = Allocator::for_class(meta)?;
    for d in meta
        .disks
        .iter()
        .filter(|d| matches!(d.role, DiskRoleMeta::Member | DiskRoleMeta::Single))
    {
        let sector = bindings
            .iter()
            .find(|b| b.name == d.name)
            .and_then(|b| b.sector_size)
            .unwrap_or(512);
        let geometry = Geometry::for_disks(sector, largest)?;
        let layout = LeaseLayout {
            geometry,
            slots: SLOTS,
        };
        let len = Sectors(layout.size().0 / 512);
        if let Some(extent) = alloc.area(&d.name, len) {
            let line = format!(
                "lease area: {} on disk {} at sector {} (sanlock lockspace {}, {SLOTS} volume slots)",
                layout.size(),
                d.name,
                extent.offset.0,
                crate::lease::lockspace_name(meta.uuid),
            );
            meta.leases = Some(LeaseArea {
                extent,
                geometry,
                slots: SLOTS,
                volumes: BTreeMap::new(),
            });
            return Ok(Some(line));
        }
    }
    Err(refuse(meta, "no data disk has room for the lease area"))
}

/// Give every volume of the class a lease slot (lowest free first) and drop the slots
/// of volumes that are gone. A slot freed by this change (`old`'s) is not given to a
/// new volume in the same change: its lease is still held until the change is done.
pub fn assign_slots(meta: &mut ClassMeta, old: &ClassMeta) -> Result<()> {
    let names: Vec<String> = meta.volumes.iter().map(|v| v.name.clone()).collect();
    let class = meta.name.clone();
    let freed: Vec<u32> = old
        .leases
        .iter()
        .flat_map(|a| a.volumes.values().copied())
        .collect();
    let Some(area) = meta.leases.as_mut() else {
        return Ok(());
    };
    area.volumes.retain(|v, _| names.contains(v));
    for v in names {
        if area.volumes.contains_key(&v) {
            continue;
        }
        let used: std::collections::BTreeSet<u32> = area
            .volumes
            .values()
            .copied()
            .chain(freed.iter().copied())
            .collect();
        let slot =
            (0..area.slots)
                .find(|s| !used.contains(s))
                .ok_or_else(|| EngineError::Refused {
                    class: class.clone(),
                    object: format!("volume {v}"),
                    reason: format!(
                        "the lease area has {} volume slots and all are taken",
                        area.slots
                    ),
                })?;
        area.volumes.insert(v, slot);
    }
    Ok(())
}

fn refuse(meta: &ClassMeta, why: &str) -> EngineError {
    EngineError::Refused {
        class: meta.name.clone(),
        object: "lease area".into(),
        reason: why.into(),
    }
}
