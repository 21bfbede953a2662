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

/// Move a shared class's lease area to a disk of `here` (present disks) when the disk
/// holding it is not one of them: `activate --force` of a netmirror class on the node
/// that survived, whose partner's disk held the leases. The new area has the old
/// geometry and slots, at the first free run of a present member disk; the old one is
/// left as it is (its disk is recorded stale and gets the new description when it
/// returns). Returns a line saying where, or `None` when the area stays.
pub fn relocate(meta: &mut ClassMeta, here: &[String]) -> Result<Option<String>> {
    let Some(old) = meta.leases.clone() else {
        return Ok(None);
    };
    if here.contains(&old.extent.disk) {
        return Ok(None);
    }
    let len = Sectors(old.layout().size().0 / 512);
    let mut alloc = Allocator::for_class(meta)?;
    for d in meta
        .disks
        .iter()
        .filter(|d| matches!(d.role, DiskRoleMeta::Member | DiskRoleMeta::Single))
        .filter(|d| here.contains(&d.name))
    {
        if let Some(extent) = alloc.area(&d.name, len) {
            let line = format!(
                "lease area: moved from disk {} (not here) to disk {} at sector {} (sanlock lockspace {})",
                old.extent.disk,
                d.name,
                extent.offset.0,
                crate::lease::lockspace_name(meta.uuid),
            );
            meta.leases = Some(LeaseArea { extent, ..old });
            return Ok(Some(line));
        }
    }
    Err(refuse(
        meta,
        "the lease area's disk is missing and no disk here has room for a new one",
    ))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::relocate;
    use crate::plan::tests::{class, plan_for, world};

    #[test]
    fn a_forced_start_without_the_lease_disk_moves_the_area_to_a_disk_here() {
        let w = world(&["d1", "d2"], 128);
        let c = class(
            "  - name: nm\n    type: shared\n    nodes: [{name: a, host_id: 1, address: 10.0.0.1}, {name: b, host_id: 2, address: 10.0.0.2}]\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1, node: a}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2, node: b}\n    groups:\n      - {name: g, type: netmirror, members: [d1, d2]}\n    volumes:\n      - {name: v1, on: g, size: 16MiB}\n",
        );
        let meta = plan_for(&w, &c, false).unwrap().new_meta;
        let old = meta.leases.clone().unwrap();
        assert_eq!(old.extent.disk, "d1");
        // The area's disk is here: nothing moves.
        let mut same = meta.clone();
        assert_eq!(
            relocate(&mut same, &["d1".into(), "d2".into()]).unwrap(),
            None
        );
        assert_eq!(same, meta);
        // Only d2 here: a new area on d2, clear of v1's leg, same geometry and slots.
        let mut moved = meta.clone();
        let line = relocate(&mut moved, &["d2".into()]).unwrap().unwrap();
        assert!(
            line.contains("moved from disk d1 (not here) to disk d2"),
            "{line}"
        );
        let new = moved.leases.clone().unwrap();
        assert_eq!(new.extent.disk, "d2");
        assert_eq!(new.extent.len, old.extent.len);
        assert_eq!(
            (new.geometry, new.slots, &new.volumes),
            (old.geometry, old.slots, &old.volumes)
        );
        for e in moved.volumes.iter().flat_map(|v| v.layout.extents()) {
            if e.disk == "d2" {
                let (start, end) = (e.offset.0, e.offset.0 + e.len.0);
                let area = (new.extent.offset.0, new.extent.offset.0 + new.extent.len.0);
                assert!(
                    end <= area.0 || area.1 <= start,
                    "lease area overlaps {e:?}"
                );
            }
        }
        // No disk here at all: refused.
        let mut none = meta.clone();
        assert!(relocate(&mut none, &[]).is_err());
    }
}
