//! A conversion cut by a power loss or a failpoint, as the next boot and the next
//! `apply` see it (docs/root-class.md, "Crash safety"): not started while nothing was
//! copied, and its own partition tables not mistaken for data to protect.

use super::keep::DMCLASS_PART_TYPE;
use crate::gpt::Gpt;
use crate::metadata::{ClassMeta, ClassTypeMeta, DiskRoleMeta};
use uuid::Uuid;

/// Why class `meta` is a conversion cut before its keep disk got its private area (the
/// conversion's last write), if it is: the keep disk is not found as a member, and no
/// raid1 superblock was ever written on the present disks' metadata extents (zeroed by
/// the conversion, written by dm-raid at the first activation) — so nothing was copied
/// from the kept partitions yet and no partial copy exists. Such a class is not
/// started: the system boots from its own partitions, and applying the file again
/// finishes the conversion. Anything unreadable counts as "started" (fail closed: the
/// class is then handled as a class that cannot start).
pub fn conversion_unfinished(
    meta: &ClassMeta,
    present: &std::collections::BTreeMap<String, std::path::PathBuf>,
    missing: &[String],
    disks: &dyn crate::io::Disks,
) -> Option<String> {
    if meta.class_type != ClassTypeMeta::Root {
        return None;
    }
    let keep = meta
        .disks
        .iter()
        .find(|d| d.role == DiskRoleMeta::Keep)?
        .name
        .as_str();
    if !missing.iter().any(|m| m == keep) {
        return None;
    }
    for v in &meta.volumes {
        for leg in &v.layout.legs {
            let Some(r) = &leg.rmeta else { continue };
            let Some(path) = present.get(&r.disk) else {
                continue;
            };
            let at = dmclass_model::Bytes(r.offset.0.saturating_mul(512));
            match disks.read(path, at, 4096) {
                Ok(b) if b.iter().all(|x| *x == 0) => {}
                _ => return None,
            }
        }
    }
    Some(format!(
        "class {}: its conversion was cut before keep disk {keep} got its private area; \
         nothing was copied yet, the system runs from its own partitions (apply the file \
         again to finish the conversion)",
        meta.name
    ))
}

/// Whether `peer`'s partition table is one a conversion from keep disk table `keep`
/// wrote (a conversion cut before the peer got its private area): `keep`'s partitions
/// sector for sector, and the dmclass partition. Such a table is dmclass's own, not
/// data to protect: applying the file again finishes the conversion without `wipe`.
pub fn written_by_conversion(peer: &Gpt, keep: &Gpt) -> bool {
    let ours = |p: &&crate::gpt::Partition| p.type_guid == DMCLASS_PART_TYPE;
    let shape = |g: &Gpt, with_ours: bool| -> Vec<(u32, Uuid, u64, u64)> {
        g.partitions
            .iter()
            .filter(|p| with_ours || !ours(p))
            .map(|p| (p.index, p.type_guid, p.first, p.last))
            .collect()
    };
    peer.sector_size == keep.sector_size
        && peer.partitions.iter().filter(ours).count() == 1
        && shape(peer, false) == shape(keep, false)
        && keep.partitions.iter().filter(ours).count() <= 1
        && (keep.partitions.iter().all(|p| !ours(&p)) || shape(peer, true) == shape(keep, true))
}
