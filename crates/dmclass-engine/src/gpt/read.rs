//! Reading a disk's partition table through [`Disks`].
//!
//! Whole-disk dmclass members start with 4 KiB of zeros (metadata/mod.rs), so their
//! LBA 1 never holds `EFI PART`; a root class's disks carry a GPT with one dmclass
//! partition. Both sector sizes in use are tried: 512 (LBA 1 at byte 512) and 4096
//! (LBA 1 at byte 4096, where a whole-disk member has its header magic instead).

use super::{decode, entries_location, Gpt, SIGNATURE};
use crate::io::Disks;
use dmclass_model::Bytes;
use std::path::Path;

/// What the start of a disk says about partitioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GptOnDisk {
    /// No GPT header at LBA 1 (for 512- or 4096-byte sectors).
    None,
    /// A valid table.
    Table(Gpt),
}

/// The partition table of `dev`, if it has one. A header that is there but does not
/// decode (checksum, bounds) is an error: never guess around a damaged table.
pub fn read_gpt(disks: &dyn Disks, dev: &Path) -> Result<GptOnDisk, String> {
    let head = disks
        .read(dev, Bytes(0), 8192)
        .map_err(|e| format!("reading the partition table: {e}"))?;
    let sector_size: u32 = if head.get(512..520) == Some(&SIGNATURE[..]) {
        512
    } else if head.get(4096..4104) == Some(&SIGNATURE[..]) {
        4096
    } else {
        return Ok(GptOnDisk::None);
    };
    let ss = sector_size as usize;
    let lba1 = head.get(ss..2 * ss).ok_or("short read of LBA 1")?;
    let bad = |e: super::GptError| format!("damaged GPT ({sector_size}-byte sectors): {e}");
    let (offset, len) = entries_location(lba1, sector_size).map_err(bad)?;
    let entries = disks
        .read(dev, Bytes(offset), len)
        .map_err(|e| format!("reading the partition entries: {e}"))?;
    let gpt = decode(lba1, &entries, sector_size).map_err(bad)?;
    let size = disks
        .size(dev)
        .map_err(|e| format!("reading the disk size: {e}"))?;
    let sectors = size.0 / u64::from(sector_size);
    if gpt.backup_lba >= sectors || gpt.last_usable >= sectors {
        return Err(format!(
            "the GPT describes a disk of at least {} sectors, but the disk has {sectors} \
             (a table copied from a larger disk)",
            gpt.backup_lba.max(gpt.last_usable) + 1
        ));
    }
    Ok(GptOnDisk::Table(gpt))
}
