//! Where a keep disk's conversion puts things, decided from its partition table alone.
//!
//! The admin's running system disk (`role: keep`) is converted in place: not one byte
//! of an existing partition moves. Every partition but the EFI system partition becomes
//! leg 0 of a raid1 volume over that very partition (dm-raid with `data_offset 0`); its
//! raid1 metadata (1 MiB each) and dmclass's private area live in a new *dmclass
//! partition* cut from space no partition uses. An ESP is never mirrored at block level
//! (firmware and boot loaders write to it outside dm): every disk gets its own, kept
//! equal by file copies. The other disks of the class get the keep disk's layout with
//! new GUIDs, so every leg sits at the same sectors on every disk.

use crate::gpt::{Gpt, Partition, BIOS_BOOT_TYPE};
use crate::metadata::AREA_SIZE;
use dmclass_model::Sectors;
use uuid::Uuid;

pub use crate::gpt::DMCLASS_PART_TYPE;
/// Name given to the dmclass partition (`PARTLABEL`).
pub const DMCLASS_PART_NAME: &str = "dmclass";
/// One raid1 metadata extent (dm-raid superblock + bitmap).
pub const RMETA_BYTES: u64 = 1 << 20;
/// Alignment of what dmclass places (as every other extent: 1 MiB).
const ALIGN_BYTES: u64 = 1 << 20;

/// A partition that becomes a raid1 volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredPartition {
    /// Its entry index on the keep disk (and on every peer).
    pub index: u32,
    /// Its `PARTLABEL` (may be empty).
    pub name: String,
    /// Start on the disk, in 512-byte sectors.
    pub start: Sectors,
    /// Length, in 512-byte sectors (the volume's size).
    pub len: Sectors,
    /// Its rmeta, as an offset inside the dmclass partition (512-byte sectors).
    pub rmeta_offset: Sectors,
}

/// The conversion's layout, the same on every disk of the class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepLayout {
    /// Logical sector size of the keep disk (every peer must have the same).
    pub sector_size: u32,
    /// EFI system partitions (entry indexes): copied per disk, never mirrored.
    pub esps: Vec<u32>,
    /// Partitions that become raid1 volumes, by index.
    pub mirrored: Vec<MirroredPartition>,
    /// The dmclass partition to add: its entry index and sectors (logical, inclusive).
    pub dmclass_index: u32,
    /// First logical sector of the dmclass partition.
    pub dmclass_first: u64,
    /// Last logical sector of the dmclass partition, inclusive.
    pub dmclass_last: u64,
}

/// Why a disk cannot be kept (or a peer cannot take its layout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepError {
    /// Booted by BIOS: the root class needs UEFI.
    #[error(
        "partition {0} is a BIOS boot partition: this disk boots by BIOS, and a root class \
         needs UEFI (an EFI system partition on every disk)"
    )]
    BiosBoot(u32),
    /// No ESP to boot from.
    #[error("no EFI system partition: a root class boots by UEFI from an ESP on every disk")]
    NoEsp,
    /// Nothing to mirror.
    #[error("no partition to mirror besides the EFI system partition")]
    NothingToMirror,
    /// The table is full.
    #[error("no free partition entry for the dmclass partition (all {0} are used)")]
    NoEntry(u32),
    /// Too little unpartitioned space.
    #[error(
        "needs {need_mib} MiB of unpartitioned space for dmclass's private area ({area_mib} \
         MiB) and {rmetas} raid1 metadata extent(s) of 1 MiB; the largest free gap is \
         {have_mib} MiB{where_}; shrink the last partition by at least {short_mib} MiB \
         (e.g. resize2fs, then sgdisk) and try again"
    )]
    NoRoom {
        /// MiB needed.
        need_mib: u64,
        /// MiB of the private area.
        area_mib: u64,
        /// raid1 metadata extents.
        rmetas: usize,
        /// MiB of the largest gap.
        have_mib: u64,
        /// Where that gap is (text).
        where_: String,
        /// MiB missing.
        short_mib: u64,
    },
    /// A peer disk's sectors are of another size.
    #[error("disk {disk} has {found}-byte sectors, the keep disk {expected}-byte sectors")]
    SectorSize {
        /// Peer disk.
        disk: String,
        /// Its logical sector size.
        found: u32,
        /// The keep disk's.
        expected: u32,
    },
    /// A peer disk is too small for the layout.
    #[error(
        "disk {disk} has {have} sectors; the keep disk's layout needs at least {need} \
         (it must be at least as large as the keep disk's last partition plus the table)"
    )]
    TooSmall {
        /// Peer disk.
        disk: String,
        /// Its size in logical sectors.
        have: u64,
        /// Sectors needed.
        need: u64,
    },
}

/// A free run of logical sectors, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gap {
    first: u64,
    last: u64,
}

impl Gap {
    fn len(self) -> u64 {
        self.last - self.first + 1
    }
}

/// Free runs between the partitions of `gpt`, in its usable area, in disk order.
fn gaps(gpt: &Gpt) -> Vec<Gap> {
    let mut parts: Vec<&Partition> = gpt.partitions.iter().collect();
    parts.sort_by_key(|p| p.first);
    let mut out = Vec::new();
    let mut next = gpt.first_usable;
    for p in parts {
        if p.first > next {
            out.push(Gap {
                first: next,
                last: p.first - 1,
            });
        }
        next = next.max(p.last + 1);
    }
    if next <= gpt.last_usable {
        out.push(Gap {
            first: next,
            last: gpt.last_usable,
        });
    }
    out
}

/// `gap` trimmed to whole `align`-sector units at both ends, if any is left.
fn aligned(gap: Gap, align: u64) -> Option<Gap> {
    let first = gap.first.div_ceil(align) * align;
    let end = (gap.last + 1) / align * align;
    (end > first).then(|| Gap {
        first,
        last: end - 1,
    })
}

/// Decide the conversion of a keep disk with partition table `gpt`.
pub fn plan_keep(gpt: &Gpt) -> Result<KeepLayout, KeepError> {
    if let Some(p) = gpt
        .partitions
        .iter()
        .find(|p| p.type_guid == BIOS_BOOT_TYPE)
    {
        return Err(KeepError::BiosBoot(p.index));
    }
    let esps: Vec<u32> = gpt
        .partitions
        .iter()
        .filter(|p| p.is_esp())
        .map(|p| p.index)
        .collect();
    if esps.is_empty() {
        return Err(KeepError::NoEsp);
    }
    let mut to_mirror: Vec<&Partition> = gpt.partitions.iter().filter(|p| !p.is_esp()).collect();
    to_mirror.sort_by_key(|p| p.index);
    if to_mirror.is_empty() {
        return Err(KeepError::NothingToMirror);
    }
    let ss = u64::from(gpt.sector_size);
    let need_bytes = AREA_SIZE + RMETA_BYTES * to_mirror.len() as u64;
    let need = need_bytes / ss;
    let align = ALIGN_BYTES / ss;
    let usable: Vec<Gap> = gaps(gpt)
        .into_iter()
        .filter_map(|g| aligned(g, align))
        .collect();
    // The last gap that is big enough: space at the end of the disk first.
    let Some(gap) = usable.iter().rev().find(|g| g.len() >= need) else {
        let best = usable.iter().max_by_key(|g| g.len());
        let have = best.map_or(0, |g| g.len() * ss);
        let mib = |b: u64| b.div_ceil(1 << 20);
        return Err(KeepError::NoRoom {
            need_mib: mib(need_bytes),
            area_mib: AREA_SIZE >> 20,
            rmetas: to_mirror.len(),
            have_mib: have >> 20,
            where_: best.map_or_else(String::new, |g| {
                format!(" (sectors {}..={})", g.first, g.last)
            }),
            short_mib: mib(need_bytes.saturating_sub(have)),
        });
    };
    let used: Vec<u32> = gpt.partitions.iter().map(|p| p.index).collect();
    let dmclass_index = (1..=crate::gpt::WRITE_ENTRIES)
        .find(|i| !used.contains(i))
        .ok_or(KeepError::NoEntry(crate::gpt::WRITE_ENTRIES))?;
    let area = AREA_SIZE / 512;
    let mirrored = to_mirror
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let (start, len) = p.extent(gpt.sector_size);
            MirroredPartition {
                index: p.index,
                name: p.name.clone(),
                start,
                len,
                rmeta_offset: Sectors(area + k as u64 * (RMETA_BYTES / 512)),
            }
        })
        .collect();
    Ok(KeepLayout {
        sector_size: gpt.sector_size,
        esps,
        mirrored,
        dmclass_index,
        dmclass_first: gap.first,
        dmclass_last: gap.first + need - 1,
    })
}

impl KeepLayout {
    /// The keep disk's table with the dmclass partition added (the only change made to
    /// the keep disk's table).
    pub fn keep_table(&self, gpt: &Gpt, part_guid: Uuid) -> Gpt {
        let mut out = gpt.clone();
        out.partitions.push(self.dmclass_partition(part_guid));
        out.partitions.sort_by_key(|p| p.index);
        out
    }

    fn dmclass_partition(&self, guid: Uuid) -> Partition {
        Partition {
            index: self.dmclass_index,
            type_guid: DMCLASS_PART_TYPE,
            guid,
            first: self.dmclass_first,
            last: self.dmclass_last,
            attributes: 0,
            name: DMCLASS_PART_NAME.into(),
        }
    }

    /// The table of peer disk `disk` (`disk_sectors` logical sectors of `sector_size`
    /// bytes): the keep disk's partitions at the same sectors, with a new disk GUID
    /// and new partition GUIDs (`new_guid` is called once per GUID, in table order).
    pub fn peer_table(
        &self,
        keep: &Gpt,
        disk: &str,
        disk_sectors: u64,
        sector_size: u32,
        new_guid: &mut dyn FnMut() -> Uuid,
    ) -> Result<Gpt, KeepError> {
        if sector_size != keep.sector_size {
            return Err(KeepError::SectorSize {
                disk: disk.into(),
                found: sector_size,
                expected: keep.sector_size,
            });
        }
        let last_used = keep
            .partitions
            .iter()
            .map(|p| p.last)
            .chain([self.dmclass_last])
            .max()
            .unwrap_or(self.dmclass_last);
        let fits = crate::gpt::usable_area(disk_sectors, sector_size)
            .is_some_and(|(first, last, _)| first <= keep.first_usable && last >= last_used);
        if !fits {
            let array = u64::from(crate::gpt::WRITE_ENTRIES * crate::gpt::ENTRY_SIZE)
                .div_ceil(u64::from(sector_size));
            return Err(KeepError::TooSmall {
                disk: disk.into(),
                have: disk_sectors,
                need: last_used + 1 + array + 1,
            });
        }
        let (first_usable, last_usable, backup_lba) =
            crate::gpt::usable_area(disk_sectors, sector_size).unwrap_or_default();
        let disk_guid = new_guid();
        let mut partitions: Vec<Partition> = keep
            .partitions
            .iter()
            .map(|p| Partition {
                guid: new_guid(),
                ..p.clone()
            })
            .collect();
        partitions.push(self.dmclass_partition(new_guid()));
        partitions.sort_by_key(|p| p.index);
        Ok(Gpt {
            sector_size,
            disk_guid,
            first_usable,
            last_usable,
            backup_lba,
            partitions,
        })
    }
}
