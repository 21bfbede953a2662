//! Reading a disk's private area through [`Disks`], and what it holds.

use super::{label_problem, read_area, AreaRead, DecodedArea, LabelContext};
use crate::error::EngineError;
use crate::gpt::{read_gpt, GptOnDisk, DMCLASS_PART_TYPE};
use crate::io::Disks;
use dmclass_model::{Bytes, Sectors};
use std::path::Path;

/// What a bound disk's private area holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaState {
    /// No dmclass header: not a member of any class.
    Blank,
    /// A valid dmclass area (of this class or another one).
    Member(Box<DecodedArea>),
    /// A damaged dmclass area or an unreadable disk: never written to.
    Unreadable(String),
    /// A label that decodes but makes no sense (crafted: [`label_problem`]); its
    /// disk is `DISABLE` and never written to.
    Hostile {
        /// What the label says.
        area: Box<DecodedArea>,
        /// Why it is not trusted.
        reason: String,
    },
}

/// [`AreaRead`] over a [`Disks`] device whose area starts at byte `base`.
struct DiskReader<'a> {
    disks: &'a dyn Disks,
    path: &'a Path,
    base: u64,
}

impl AreaRead for DiskReader<'_> {
    fn read_at(&mut self, offset: u64, len: usize) -> std::result::Result<Vec<u8>, String> {
        let at = self
            .base
            .checked_add(offset)
            .ok_or("area offset overflows")?;
        self.disks
            .read(self.path, Bytes(at), len)
            .map_err(|e| e.to_string())
    }
}

/// Where the private area of `path` starts: byte 0 of a whole-disk member, the start
/// of the dmclass partition on a root class's disk (root/keep.rs). A damaged
/// partition table, or more than one dmclass partition, is an error (never guessed).
pub fn area_offset(disks: &dyn Disks, path: &Path) -> std::result::Result<Bytes, String> {
    let GptOnDisk::Table(gpt) = read_gpt(disks, path)? else {
        return Ok(Bytes(0));
    };
    let ours: Vec<_> = gpt
        .partitions
        .iter()
        .filter(|p| p.type_guid == DMCLASS_PART_TYPE)
        .collect();
    match ours.as_slice() {
        // Partitioned, but not by dmclass: nothing of ours at byte 0 either (LBA 1
        // holds `EFI PART`), so reading there finds no header: Blank.
        [] => Ok(Bytes(0)),
        [p] => {
            let ss = u64::from(gpt.sector_size);
            if p.len().saturating_mul(ss) < super::AREA_SIZE {
                return Err(format!(
                    "dmclass partition {} is {} bytes, smaller than the private area",
                    p.index,
                    p.len().saturating_mul(ss)
                ));
            }
            Ok(Bytes(p.first.saturating_mul(ss)))
        }
        _ => Err(format!(
            "{} dmclass partitions in the partition table; a disk carries one",
            ours.len()
        )),
    }
}

/// Read the private area on `path`, labelling errors with `label`.
pub(crate) fn read_area_at(label: &str, path: &Path, disks: &dyn Disks) -> AreaState {
    let base = match area_offset(disks, path) {
        Ok(b) => b.0,
        Err(why) => return AreaState::Unreadable(format!("{label}: {why}")),
    };
    let mut r = DiskReader { disks, path, base };
    match read_area(label, &mut r) {
        Ok(a) => {
            let recorded = a
                .meta
                .disks
                .iter()
                .find(|d| d.uuid == a.header.disk_uuid)
                .map(|d| d.area_offset.0.saturating_mul(512));
            if base == 0 && recorded.is_some_and(|r| r > 0) {
                // A root class disk's dmclass partition opened as a device of its
                // own: the area belongs to the whole disk, whose extents these are.
                return AreaState::Blank;
            }
            if let Some(rec) = recorded.filter(|r| *r != base) {
                let reason = format!(
                    "the metadata places this disk's private area at byte {rec}, but it was found at byte {base} (a copied or moved partition)"
                );
                return AreaState::Hostile {
                    area: Box::new(a),
                    reason,
                };
            }
            let ctx = LabelContext {
                device_size: disks.size(path).ok().map(|b| Sectors(b.0 / 512)),
                ..LabelContext::default()
            };
            match label_problem(&a, &ctx) {
                None => AreaState::Member(Box::new(a)),
                Some(reason) => AreaState::Hostile {
                    area: Box::new(a),
                    reason,
                },
            }
        }
        Err(EngineError::NotMember { .. }) => AreaState::Blank,
        Err(e) => AreaState::Unreadable(e.to_string()),
    }
}

/// Byte where `disk`'s private area starts, as the class description records it
/// (the place [`read_area_at`] found it, checked on every read).
pub(crate) fn area_base(meta: &super::ClassMeta, disk: &str) -> u64 {
    meta.disk(disk)
        .map_or(0, |d| d.area_offset.0.saturating_mul(512))
}

/// Write `meta` into the slot of `area` (read from `disk` at `path`) that does not
/// hold the newest generation ([`super::next_write`]), at the area's place.
pub(crate) fn write_next(
    disks: &mut dyn Disks,
    path: &Path,
    disk: &str,
    area: &DecodedArea,
    meta: &super::ClassMeta,
) -> crate::error::Result<()> {
    let w = super::next_write(area, meta)?;
    let at = area_base(&area.meta, disk).saturating_add(w.offset);
    disks
        .write(path, Bytes(at), &w.data)
        .map_err(|e| crate::error::io_err(format!("writing metadata to disk {disk}"), e))
}

/// Write `meta` to every present disk (a member whose generation is older) that is not departed (`paths`: disk name →
/// device node).
pub fn write_present(
    meta: &super::ClassMeta,
    paths: &std::collections::BTreeMap<String, std::path::PathBuf>,
    disks: &mut dyn Disks,
) -> crate::error::Result<()> {
    for (name, path) in paths {
        if meta.departed.iter().any(|d| &d.disk == name) {
            continue; // never write a failed or unverified disk
        }
        let area = match read_area_at(name, path, &*disks) {
            AreaState::Member(a) => a,
            // Never write a damaged or crafted label.
            AreaState::Blank | AreaState::Unreadable(_) | AreaState::Hostile { .. } => continue,
        };
        if area.meta.generation >= meta.generation {
            continue;
        }
        write_next(disks, path, name, &area, meta)?;
    }
    Ok(())
}
