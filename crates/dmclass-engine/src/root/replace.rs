//! Replacing a dead disk of a converted root class with a blank one: the YAML names
//! the new device for the disk, and the conversion's planning (`convert::decide`)
//! writes it like a peer of the first conversion (docs/root-class.md, "Replacing a
//! dead disk"). Here: the class description the replacement writes.

use super::convert::{refuse, DiskIn, Refusal};
use crate::layout::SliceState;
use crate::metadata::ClassMeta;

/// A volume as a replacement must leave it: name, partition, each leg's extents.
type VolumeShape = (String, Option<u32>, Vec<Vec<(String, u64, u64)>>);

/// The class is converted (its keep disk is done): the disks that are not members
/// now are blank replacements of dead ones. The description stays the class's own —
/// same volumes on the same partitions, so the file must not change anything else —
/// with the replacements' identities and their slices `COPY` (rebuilt in full), the
/// other slices as recorded, one generation on.
pub(super) fn replacement(
    existing: &ClassMeta,
    meta: &mut ClassMeta,
    disks: &[DiskIn<'_>],
) -> Result<(), Refusal> {
    let shape = |m: &ClassMeta| {
        // The system volumes; those on the boot-environment group are no part of
        // the conversion.
        let mut v: Vec<VolumeShape> = m
            .volumes
            .iter()
            .filter(|v| v.partition.is_some())
            .map(|v| {
                let legs = v
                    .layout
                    .legs
                    .iter()
                    .map(|l| {
                        l.extents()
                            .into_iter()
                            .map(|e| (e.disk.clone(), e.offset.0, e.len.0))
                            .collect()
                    })
                    .collect();
                (v.name.clone(), v.partition, legs)
            })
            .collect();
        v.sort();
        let mut d: Vec<&str> = m.disks.iter().map(|d| d.name.as_str()).collect();
        d.sort_unstable();
        (v, d.join(","))
    };
    if shape(existing) != shape(meta) {
        return refuse(
            "class",
            "it is a converted root class and the file describes other volumes or disks; \
             only replacing a dead disk (a new `device:` for it) is built (`dmclass export` \
             shows the class as it is)",
        );
    }
    let replaced: Vec<&str> = disks.iter().filter(|d| !d.member).map(|d| d.name).collect();
    let mut next = existing.clone();
    next.generation = existing.generation.saturating_add(1);
    next.intent = None;
    next.departed
        .retain(|d| !replaced.contains(&d.disk.as_str()));
    for d in &mut next.disks {
        if let Some(new) = meta.disks.iter().find(|n| n.name == d.name) {
            if replaced.contains(&d.name.as_str()) {
                d.identity = new.identity.clone();
                d.uuid = new.uuid;
                d.size = new.size;
                d.state = new.state;
            }
        }
    }
    for v in &mut next.volumes {
        for leg in &mut v.layout.legs {
            if leg.disks().iter().any(|d| replaced.contains(d)) {
                leg.state = SliceState::Copy;
            }
        }
    }
    *meta = next;
    Ok(())
}
