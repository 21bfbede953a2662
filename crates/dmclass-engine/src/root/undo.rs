//! Undoing a root class: the machine boots from one disk's own partitions again, as it
//! did before the conversion, with no dm device under its root.
//!
//! Two phases, like the conversion. `dmclass root undo CLASS` only records the request
//! ([`crate::metadata::UndoMeta`], on every disk): nothing is taken apart while the
//! root runs on the class. At the next boot the initramfs (`activate --root`) finds
//! the request, does not assemble the class, and runs [`plan_undo`]'s steps while no
//! dm device holds the disks. The kept disk's partitions hold the volumes' data from
//! sector 0 (leg 0 of each raid1 is the partition itself), so once dmclass is gone
//! `root=UUID=…` finds the file system on the partition.
//!
//! Order (each step idempotent, so a cut undo is finished by the next boot):
//! 1. every other disk: the signatures at the start of each of its partitions (file
//!    systems, ESP, swap: the copies must not be found by `UUID=` next to the
//!    original), then its private area (it leaves the class), then its partition
//!    table (primary and backup);
//! 2. the kept disk: its private area (the class is gone: a cut after this boots
//!    plain), then its partition table without the dmclass partition.
//!
//! A disk missing at that boot keeps its copy; it is named, and dmclass never
//! assembles it again (the kept disk no longer lists it).

use crate::gpt::{Gpt, DMCLASS_PART_TYPE};
use crate::layout::SliceState;
use crate::metadata::{ClassMeta, ClassTypeMeta};
use dmclass_model::Bytes;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Bytes wiped at the start of each partition of a disk that leaves: every signature
/// blkid looks for in a partition's first MiB (ext4 at 1 KiB, FAT at 0, swap at 4 KiB,
/// XFS at 0, btrfs at 64 KiB, LVM at 512 B).
const SIGNATURE_SPAN: u64 = 1 << 20;
/// The private area's length, wiped where it lies.
const AREA: u64 = crate::metadata::AREA_SIZE;

/// One disk of the class at the undo, with its partition table now.
#[derive(Debug, Clone)]
pub struct UndoDisk<'a> {
    /// Name in the class.
    pub name: &'a str,
    /// Its partition table.
    pub table: &'a Gpt,
    /// Logical sectors of the disk.
    pub disk_sectors: u64,
}

/// One write of the undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoStep {
    /// Zero `len` bytes at `offset` of the disk.
    Zero {
        /// Disk name.
        disk: String,
        /// Where.
        offset: Bytes,
        /// How much.
        len: Bytes,
        /// What is wiped (for the log).
        what: String,
    },
    /// Write this partition table (the kept disk's, without the dmclass partition).
    WriteTable {
        /// Disk name.
        disk: String,
        /// The table.
        table: Gpt,
        /// Logical sectors of the disk (for encoding).
        disk_sectors: u64,
    },
}

/// Why `keep` cannot be the disk the machine goes back to, if it cannot: the class is
/// not a root class, the disk is not one of it, has left, or one of its slices is not
/// a complete copy (its data would be stale).
pub fn refusal(meta: &ClassMeta, keep: &str) -> Option<String> {
    if meta.class_type != ClassTypeMeta::Root {
        return Some(format!("class {} is not a root class", meta.name));
    }
    if meta.disk(keep).is_none() {
        return Some(format!("class {} has no disk {keep}", meta.name));
    }
    if meta.departed.iter().any(|d| d.disk == keep) {
        return Some(format!(
            "disk {keep} failed while the class ran; its copy is not complete"
        ));
    }
    if !meta.snapshots.is_empty() {
        return Some(format!(
            "class {} has snapshots or proxies ({}): remove them first, they would be \
             lost with the class",
            meta.name,
            meta.snapshots
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for v in &meta.volumes {
        let Some(leg) = v.layout.legs.iter().find(|l| l.disks() == [keep]) else {
            return Some(format!("volume {} has no leg on disk {keep}", v.name));
        };
        if leg.state != SliceState::Active {
            return Some(format!(
                "volume {}: the slice on disk {keep} is {:?}, not a complete copy",
                v.name, leg.state
            ));
        }
    }
    None
}

/// The steps that take the class apart (order in the module doc). `disks`: those
/// present, with their tables; `keep` must be among them.
pub fn plan_undo(
    meta: &ClassMeta,
    keep: &str,
    disks: &[UndoDisk<'_>],
) -> Result<Vec<UndoStep>, String> {
    let keep_disk = disks
        .iter()
        .find(|d| d.name == keep)
        .ok_or_else(|| format!("disk {keep}, the one to keep, is missing: nothing is undone"))?;
    let mut steps = Vec::new();
    for d in disks.iter().filter(|d| d.name != keep) {
        let ss = u64::from(d.table.sector_size);
        let mut area = None;
        for p in &d.table.partitions {
            let start = p.first.saturating_mul(ss);
            let len = p.len().saturating_mul(ss);
            if p.type_guid == DMCLASS_PART_TYPE {
                area = Some(start);
                continue;
            }
            steps.push(UndoStep::Zero {
                disk: d.name.to_string(),
                offset: Bytes(start),
                len: Bytes(len.min(SIGNATURE_SPAN)),
                what: format!("signatures of partition {} ({})", p.index, p.name),
            });
        }
        if let Some(start) = area {
            steps.push(UndoStep::Zero {
                disk: d.name.to_string(),
                offset: Bytes(start),
                len: Bytes(AREA),
                what: "dmclass private area".into(),
            });
        }
        let first = d.table.first_usable.saturating_mul(ss);
        let backup = d.table.last_usable.saturating_add(1).saturating_mul(ss);
        let end = d.disk_sectors.saturating_mul(ss);
        steps.push(UndoStep::Zero {
            disk: d.name.to_string(),
            offset: Bytes(0),
            len: Bytes(first),
            what: "protective MBR and primary partition table".into(),
        });
        if backup < end {
            steps.push(UndoStep::Zero {
                disk: d.name.to_string(),
                offset: Bytes(backup),
                len: Bytes(end - backup),
                what: "backup partition table".into(),
            });
        }
    }
    let ss = u64::from(keep_disk.table.sector_size);
    let mut table = keep_disk.table.clone();
    let dmclass: Vec<_> = table
        .partitions
        .iter()
        .filter(|p| p.type_guid == DMCLASS_PART_TYPE)
        .cloned()
        .collect();
    let [part] = dmclass.as_slice() else {
        return Err(format!(
            "disk {keep} has {} dmclass partitions; expected one",
            dmclass.len()
        ));
    };
    if meta
        .disk(keep)
        .is_some_and(|d| d.area_offset.0.saturating_mul(512) != part.first.saturating_mul(ss))
    {
        return Err(format!(
            "disk {keep}: the dmclass partition does not start where the private area is \
             recorded: refusing to guess"
        ));
    }
    steps.push(UndoStep::Zero {
        disk: keep.to_string(),
        offset: Bytes(part.first.saturating_mul(ss)),
        len: Bytes(AREA),
        what: "dmclass private area".into(),
    });
    table
        .partitions
        .retain(|p| p.type_guid != DMCLASS_PART_TYPE);
    steps.push(UndoStep::WriteTable {
        disk: keep.to_string(),
        table,
        disk_sectors: keep_disk.disk_sectors,
    });
    Ok(steps)
}

/// The present disks of a class: name → device node.
pub type Present = BTreeMap<String, PathBuf>;

/// Record the request to undo class `meta` back to disk `keep` on every present disk
/// (a new generation; [`refusal`] checked first). Returns the description written.
pub fn request(
    meta: &ClassMeta,
    present: &Present,
    keep: &str,
    disks: &mut dyn crate::io::Disks,
) -> crate::error::Result<ClassMeta> {
    if let Some(why) = refusal(meta, keep) {
        return Err(crate::error::EngineError::refused_class(&meta.name, why));
    }
    let mut next = meta.clone();
    next.generation = next.generation.saturating_add(1);
    next.undo = Some(crate::metadata::UndoMeta {
        keep: keep.to_string(),
    });
    crate::metadata::write_present(&next, present, disks)?;
    Ok(next)
}

/// Take class `meta` apart as its recorded undo asks (module doc), before anything
/// uses its disks (`present`: found now; `missing`: recorded, not found). Returns what
/// was done, one line per step, for the console.
pub fn carry_out(
    meta: &ClassMeta,
    present: &Present,
    missing: &[String],
    kernel: &dyn crate::io::Kernel,
    disks: &mut dyn crate::io::Disks,
) -> crate::error::Result<Vec<String>> {
    use crate::error::{io_err, EngineError};
    use crate::gpt::{encode, read_gpt, GptOnDisk};
    let class = meta.name.as_str();
    let Some(undo) = &meta.undo else {
        return Ok(Vec::new());
    };
    // Never under a running class (the root may be on it): only before assembly.
    let live = crate::names::class_devices(meta.uuid, kernel)?;
    if !live.is_empty() {
        return Err(EngineError::refused_class(
            class,
            format!(
                "the undo runs only before the class is assembled (at boot); its devices \
                 are active: {}",
                live.join(", ")
            ),
        ));
    }
    let mut tables = Vec::new();
    for (name, path) in present {
        let t = match read_gpt(&*disks, path) {
            Ok(GptOnDisk::Table(t)) => t,
            Ok(GptOnDisk::None) => {
                return Err(EngineError::refused(
                    class,
                    format!("disk {name}"),
                    "no partition table",
                ))
            }
            Err(why) => return Err(EngineError::refused(class, format!("disk {name}"), why)),
        };
        let bytes = disks
            .size(path)
            .map_err(|e| io_err(format!("size of disk {name}"), e))?;
        let sectors = bytes.0 / u64::from(t.sector_size);
        tables.push((name.clone(), path.clone(), t, sectors));
    }
    let list: Vec<UndoDisk<'_>> = tables
        .iter()
        .map(|(n, _, t, s)| UndoDisk {
            name: n,
            table: t,
            disk_sectors: *s,
        })
        .collect();
    let steps =
        plan_undo(meta, &undo.keep, &list).map_err(|why| EngineError::refused_class(class, why))?;
    let path = |disk: &str| {
        tables
            .iter()
            .find(|(n, ..)| n == disk)
            .map(|(_, p, t, _)| (p.clone(), u64::from(t.sector_size)))
    };
    let mut log = Vec::new();
    for s in &steps {
        match s {
            UndoStep::Zero {
                disk,
                offset,
                len,
                what,
            } => {
                let Some((p, _)) = path(disk) else { continue };
                disks
                    .zero(&p, *offset, *len)
                    .map_err(|e| io_err(format!("wiping the {what} of disk {disk}"), e))?;
                log.push(format!("class {class}: disk {disk}: wiped the {what}"));
            }
            UndoStep::WriteTable {
                disk,
                table,
                disk_sectors,
            } => {
                let Some((p, ss)) = path(disk) else { continue };
                let (start, end) = encode(table, *disk_sectors).map_err(|e| {
                    EngineError::refused(class, format!("disk {disk}"), e.to_string())
                })?;
                let end_at = disk_sectors
                    .saturating_mul(ss)
                    .saturating_sub(end.len() as u64);
                // Sector 0 (its protective MBR) stays as it is; backup first, as always.
                let skip = usize::try_from(ss).unwrap_or(usize::MAX);
                let what = format!("writing the partition table of disk {disk}");
                disks
                    .write(&p, Bytes(end_at), &end)
                    .map_err(|e| io_err(what.clone(), e))?;
                disks
                    .write(&p, Bytes(ss), start.get(skip..).unwrap_or_default())
                    .map_err(|e| io_err(what, e))?;
                log.push(format!(
                    "class {class}: disk {disk}: partition table written without the dmclass partition"
                ));
            }
        }
    }
    for m in missing {
        log.push(format!(
            "class {class}: disk {m} is missing: its copy is left as it is (wipe it before reuse)"
        ));
    }
    Ok(log)
}
