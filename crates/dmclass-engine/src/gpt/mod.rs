//! GUID partition tables (UEFI 2.x §5.3), decoded totally and encoded for a new disk.
//!
//! A keep disk's partition table is read from the admin's running system disk: it is
//! input like any other, so decoding is bounded (at most [`MAX_ENTRIES`] entries of at
//! most [`MAX_ENTRY_SIZE`] bytes), checks both CRC32s, the entry bounds and overlaps,
//! and never panics. Encoding writes the protective MBR, the primary header and entry
//! array, and the backup array and header at the end of the disk, as `sgdisk` does.

use dmclass_model::Sectors;
use std::fmt;
use uuid::Uuid;

/// Header signature `EFI PART`.
pub const SIGNATURE: [u8; 8] = *b"EFI PART";
/// The only revision defined (1.0).
pub const REVISION: u32 = 0x0001_0000;
/// Size of the header fields (the rest of the sector is zero).
pub const HEADER_SIZE: u32 = 92;
/// Entries dmclass reads at most (the usual table has 128).
pub const MAX_ENTRIES: u32 = 1024;
/// Entry size dmclass reads at most (the usual size is 128 bytes).
pub const MAX_ENTRY_SIZE: u32 = 1024;
/// Entries in a table dmclass writes, and their size: the common layout (16 KiB).
pub const WRITE_ENTRIES: u32 = 128;
/// Size of one entry dmclass writes.
pub const ENTRY_SIZE: u32 = 128;
/// Bytes of the UTF-16LE partition name field.
const NAME_BYTES: usize = 72;

/// Partition type of an EFI system partition.
pub const ESP_TYPE: Uuid = Uuid::from_u128(0xc12a_7328_f81f_11d2_ba4b_00a0_c93e_c93b);
/// Partition type of a GRUB BIOS boot partition (a BIOS-booted disk).
pub const BIOS_BOOT_TYPE: Uuid = Uuid::from_u128(0x2168_6148_6449_6e6f_744e_6565_6445_4649);
/// Partition type of a dmclass partition (a root class disk's private area and raid1
/// metadata; root/keep.rs).
pub const DMCLASS_PART_TYPE: Uuid = Uuid::from_u128(0xa9c5_1df1_636f_4062_8c74_938f_f574_bed8);

mod read;
pub use read::{read_gpt, GptOnDisk};

/// Why a partition table was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GptError {
    /// Fewer bytes than the structure needs.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// No `EFI PART` signature at LBA 1.
    #[error("no GPT header (signature missing at LBA 1)")]
    NoHeader,
    /// A header field out of what the specification allows or dmclass reads.
    #[error("GPT header field {field} = {value} is not accepted")]
    Field {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: u64,
    },
    /// The header's CRC32 does not match.
    #[error("GPT header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    HeaderCrc {
        /// CRC in the header.
        stored: u32,
        /// CRC computed.
        computed: u32,
    },
    /// The entry array's CRC32 does not match.
    #[error(
        "GPT entry array checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    EntriesCrc {
        /// CRC in the header.
        stored: u32,
        /// CRC computed.
        computed: u32,
    },
    /// A partition outside the usable area, inverted, or overlapping another.
    #[error("partition {index}: {reason}")]
    Partition {
        /// Entry index (from 1, as `sgdisk` numbers them).
        index: u32,
        /// What is wrong.
        reason: String,
    },
}

/// One partition (a used entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Entry index, from 1 (`/dev/sdX1` is entry 1).
    pub index: u32,
    /// Partition type GUID.
    pub type_guid: Uuid,
    /// Unique partition GUID (`PARTUUID`).
    pub guid: Uuid,
    /// First sector (in logical sectors of the disk).
    pub first: u64,
    /// Last sector, inclusive.
    pub last: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name (`PARTLABEL`), lossily decoded from UTF-16LE.
    pub name: String,
}

impl Partition {
    /// Length in logical sectors.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Whether the partition is empty (never: `last >= first` is checked).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether this is an EFI system partition.
    pub fn is_esp(&self) -> bool {
        self.type_guid == ESP_TYPE
    }

    /// Start and length in 512-byte sectors on a disk of `sector_size` bytes.
    pub fn extent(&self, sector_size: u32) -> (Sectors, Sectors) {
        let k = u64::from(sector_size / 512);
        (Sectors(self.first * k), Sectors(self.len() * k))
    }
}

/// A decoded partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// Logical sector size the table was read with.
    pub sector_size: u32,
    /// Disk GUID.
    pub disk_guid: Uuid,
    /// First usable sector.
    pub first_usable: u64,
    /// Last usable sector, inclusive.
    pub last_usable: u64,
    /// Location of the backup header.
    pub backup_lba: u64,
    /// Used entries, by index.
    pub partitions: Vec<Partition>,
}

impl fmt::Display for Gpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GPT {} ({} partitions, usable sectors {}..={} of {} bytes)",
            self.disk_guid,
            self.partitions.len(),
            self.first_usable,
            self.last_usable,
            self.sector_size
        )
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn guid(b: &[u8], at: usize) -> Uuid {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    // GUIDs on disk are mixed-endian: the first three fields little-endian.
    Uuid::from_bytes_le(a)
}

fn need(b: &[u8], n: usize) -> Result<(), GptError> {
    if b.len() < n {
        return Err(GptError::Truncated {
            need: n,
            have: b.len(),
        });
    }
    Ok(())
}

/// Where the entry array lies and how long it is, from the header in sector `lba1`
/// (LBA 1 of a disk with `sector_size`-byte sectors). The caller reads that many bytes
/// from that byte offset and passes them to [`decode`].
pub fn entries_location(lba1: &[u8], sector_size: u32) -> Result<(u64, usize), GptError> {
    let h = header(lba1, sector_size)?;
    let offset = h
        .entries_lba
        .checked_mul(u64::from(sector_size))
        .ok_or(GptError::Field {
            field: "partition entry LBA",
            value: h.entries_lba,
        })?;
    Ok((offset, h.array_len()))
}

struct Header {
    crc_entries: u32,
    entries_lba: u64,
    count: u32,
    entry_size: u32,
    gpt: Gpt,
}

impl Header {
    fn array_len(&self) -> usize {
        // Both bounded by MAX_*: at most 1 MiB.
        usize::try_from(u64::from(self.count) * u64::from(self.entry_size)).unwrap_or(usize::MAX)
    }
}

fn header(b: &[u8], sector_size: u32) -> Result<Header, GptError> {
    if !matches!(sector_size, 512 | 4096) {
        return Err(GptError::Field {
            field: "logical sector size",
            value: u64::from(sector_size),
        });
    }
    need(b, HEADER_SIZE as usize)?;
    if b[0..8] != SIGNATURE {
        return Err(GptError::NoHeader);
    }
    let field = |field, value: u64| GptError::Field { field, value };
    let revision = le32(b, 8);
    if revision != REVISION {
        return Err(field("revision", u64::from(revision)));
    }
    let size = le32(b, 12);
    if size < HEADER_SIZE || size > sector_size {
        return Err(field("header size", u64::from(size)));
    }
    need(b, size as usize)?;
    let stored = le32(b, 16);
    let mut copy = b[..size as usize].to_vec();
    copy[16..20].fill(0);
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return Err(GptError::HeaderCrc { stored, computed });
    }
    let current = le64(b, 24);
    if current != 1 {
        return Err(field("current LBA", current));
    }
    let backup_lba = le64(b, 32);
    let first_usable = le64(b, 40);
    let last_usable = le64(b, 48);
    if first_usable > last_usable || last_usable >= backup_lba {
        return Err(field("last usable LBA", last_usable));
    }
    let entries_lba = le64(b, 72);
    if entries_lba < 2 || entries_lba >= first_usable {
        return Err(field("partition entry LBA", entries_lba));
    }
    let count = le32(b, 80);
    if count > MAX_ENTRIES {
        return Err(field("number of partition entries", u64::from(count)));
    }
    let entry_size = le32(b, 84);
    if !(128..=MAX_ENTRY_SIZE).contains(&entry_size) || !entry_size.is_power_of_two() {
        return Err(field("partition entry size", u64::from(entry_size)));
    }
    Ok(Header {
        crc_entries: le32(b, 88),
        entries_lba,
        count,
        entry_size,
        gpt: Gpt {
            sector_size,
            disk_guid: guid(b, 56),
            first_usable,
            last_usable,
            backup_lba,
            partitions: Vec::new(),
        },
    })
}

/// Decode a partition table from the header sector at LBA 1 and the entry array
/// (read from [`entries_location`]). Checks both checksums, that every partition lies
/// inside the usable area, and that no two overlap.
pub fn decode(lba1: &[u8], entries: &[u8], sector_size: u32) -> Result<Gpt, GptError> {
    let h = header(lba1, sector_size)?;
    let len = h.array_len();
    need(entries, len)?;
    let array = &entries[..len];
    let computed = crc32fast::hash(array);
    if computed != h.crc_entries {
        return Err(GptError::EntriesCrc {
            stored: h.crc_entries,
            computed,
        });
    }
    let mut gpt = h.gpt;
    for (i, e) in array.chunks_exact(h.entry_size as usize).enumerate() {
        let type_guid = guid(e, 0);
        if type_guid.is_nil() {
            continue;
        }
        // i < MAX_ENTRIES: fits.
        let index = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
        let (first, last) = (le64(e, 32), le64(e, 40));
        let bad = |reason: String| GptError::Partition { index, reason };
        if last < first {
            return Err(bad(format!("ends at {last} before it starts at {first}")));
        }
        if first < gpt.first_usable || last > gpt.last_usable {
            return Err(bad(format!(
                "sectors {first}..={last} outside the usable area {}..={}",
                gpt.first_usable, gpt.last_usable
            )));
        }
        let units: Vec<u16> = e[56..56 + NAME_BYTES]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        gpt.partitions.push(Partition {
            index,
            type_guid,
            guid: guid(e, 16),
            first,
            last,
            attributes: le64(e, 48),
            name: String::from_utf16_lossy(&units),
        });
    }
    let mut by_start: Vec<&Partition> = gpt.partitions.iter().collect();
    by_start.sort_by_key(|p| p.first);
    for w in by_start.windows(2) {
        if w[1].first <= w[0].last {
            return Err(GptError::Partition {
                index: w[1].index,
                reason: format!("overlaps partition {}", w[0].index),
            });
        }
    }
    Ok(gpt)
}

/// The sectors a [`Gpt`] written by [`encode`] occupies at the start and at the end of
/// a disk of `disk_sectors` logical sectors: (usable first, usable last, backup LBA).
pub fn usable_area(disk_sectors: u64, sector_size: u32) -> Option<(u64, u64, u64)> {
    let array_sectors = u64::from(WRITE_ENTRIES * ENTRY_SIZE).div_ceil(u64::from(sector_size));
    let backup = disk_sectors.checked_sub(1)?;
    let first = 2 + array_sectors;
    let last = backup.checked_sub(array_sectors + 1)?;
    (first <= last).then_some((first, last, backup))
}

/// The bytes of a partition table for a disk of `disk_sectors` logical sectors: the
/// start (protective MBR, primary header, entries; written at byte 0) and the end
/// (backup entries, backup header; written so that it ends at the disk's end).
/// `gpt.partitions` must fit [`usable_area`] (checked: an error names the partition).
pub fn encode(gpt: &Gpt, disk_sectors: u64) -> Result<(Vec<u8>, Vec<u8>), GptError> {
    let ss = gpt.sector_size as usize;
    let (first_usable, last_usable, backup) =
        usable_area(disk_sectors, gpt.sector_size).ok_or(GptError::Field {
            field: "disk size in sectors",
            value: disk_sectors,
        })?;
    let mut array = vec![0u8; (WRITE_ENTRIES * ENTRY_SIZE) as usize];
    for p in &gpt.partitions {
        if p.index == 0 || p.index > WRITE_ENTRIES {
            return Err(GptError::Partition {
                index: p.index,
                reason: format!("index outside 1..={WRITE_ENTRIES}"),
            });
        }
        if p.first < first_usable || p.last > last_usable || p.last < p.first {
            return Err(GptError::Partition {
                index: p.index,
                reason: format!(
                    "sectors {}..={} do not fit the usable area {first_usable}..={last_usable}",
                    p.first, p.last
                ),
            });
        }
        let at = (p.index as usize - 1) * ENTRY_SIZE as usize;
        let e = &mut array[at..at + ENTRY_SIZE as usize];
        e[0..16].copy_from_slice(&p.type_guid.to_bytes_le());
        e[16..32].copy_from_slice(&p.guid.to_bytes_le());
        e[32..40].copy_from_slice(&p.first.to_le_bytes());
        e[40..48].copy_from_slice(&p.last.to_le_bytes());
        e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
        for (k, u) in p.name.encode_utf16().take(NAME_BYTES / 2).enumerate() {
            e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
        }
    }
    let array_crc = crc32fast::hash(&array);
    let array_sectors = (array.len() / ss) as u64;
    let head = |current: u64, other: u64, entries_lba: u64| {
        let mut h = vec![0u8; ss];
        h[0..8].copy_from_slice(&SIGNATURE);
        h[8..12].copy_from_slice(&REVISION.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&current.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&first_usable.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&gpt.disk_guid.to_bytes_le());
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&WRITE_ENTRIES.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..HEADER_SIZE as usize]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    let mut start = protective_mbr(disk_sectors, ss);
    start.extend(head(1, backup, 2));
    start.extend(&array);
    let mut end = array.clone();
    end.extend(head(backup, 1, backup - array_sectors));
    Ok((start, end))
}

/// A protective MBR: one partition of type 0xEE over the whole disk (capped at 2^32-1).
fn protective_mbr(disk_sectors: u64, ss: usize) -> Vec<u8> {
    let mut m = vec![0u8; ss];
    let e = &mut m[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    e[4] = 0xee;
    e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    let len = u32::try_from(disk_sectors.saturating_sub(1)).unwrap_or(u32::MAX);
    e[12..16].copy_from_slice(&len.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    m
}
