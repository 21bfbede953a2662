//! On-disk metadata: the dmclass private area at the start of every member disk
//! (GDS's "private slice").
//!
//! # Layout (format version 1)
//!
//! All offsets are bytes from the start of the private area (the start of the disk,
//! or of the private partition of a `keep` disk). Every region is a multiple of
//! 4096 bytes and 4096-aligned, so it can be read and written with `O_DIRECT` on
//! 4Kn disks.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 4 KiB | left alone by the format; zeroed at registration so no stale MBR, GPT or LVM label (sector 1) survives |
//! | 4 KiB | 4 KiB | header copy A |
//! | 8 KiB | 4 KiB | header copy B (identical to A) |
//! | 12 KiB | 1012 KiB | reserved (zero) |
//! | 1 MiB | 15 MiB | configuration slot 0 |
//! | 16 MiB | 15 MiB | configuration slot 1 |
//! | 31 MiB | 1 MiB | reserved (zero) |
//! | 32 MiB | | end of the private area: first allocatable sector (1 MiB aligned) |
//!
//! 32 MiB is GDS's private slice size for non-root classes. The slots are sized for
//! the whole class: a two-way mirrored volume costs about 600 bytes of JSON, so a slot
//! holds well over 20,000 volumes.
//!
//! **Header** (4096 bytes, little-endian): `0` magic `DMCLASS-PRIVATE\0` (16 bytes,
//! what `dmclass probe` looks for at byte 4096); `16` layout version u32; `20` copy
//! index u32 (0 = A, 1 = B); `24` class UUID (16); `40` disk UUID (16); `56` area
//! length u64; `64` slot size u64; `72` slot 0 offset u64; `80` slot 1 offset u64;
//! `88` disk size in sectors at registration u64; `96` class name (64 bytes, UTF-8,
//! NUL padded); zeros; `4092` CRC32C of bytes 0..4092.
//!
//! **Slot** = a 4096-byte slot header followed by the JSON body ([`ClassMeta`]):
//! `0` magic `DMCLSLOT`; `8` layout version u32; `12` slot index u32; `16` class UUID;
//! `32` disk UUID; `48` generation u64 (equal to the body's); `56` body length u64;
//! `64` body CRC32C u32; zeros; `4092` CRC32C of bytes 0..4092. The encoded slot is
//! zero-padded to a multiple of 4096.
//!
//! # Rules
//!
//! * Headers are written at registration (and when the layout changes), never on an
//!   ordinary update. Copy A wins when both are valid.
//! * An update writes the slot that does *not* hold the newest valid generation
//!   ([`next_write`]) in one write, then flushes; only then does it count. A torn or
//!   corrupt slot fails its CRC and the other slot's (previous) generation is used.
//! * Both slots must match the header's class and disk UUIDs and the layout version.
//! * Decoding is total: any byte string gives a value or an error, never a panic; no
//!   allocation is sized by a length field before it is checked against the fixed
//!   slot capacity.
//! * A decoded label is then checked for sense ([`label_problem`]): extents inside
//!   the disks and apart from each other, bounded counts, a believable generation.
//!   A label that fails is crafted: its disk is `DISABLE` and never written.

mod codec;
mod departure;
mod intent;
mod read;
mod types;
mod validate;

pub use crate::error::MetaProblem;
pub use codec::{
    decode_area, decode_header, decode_slot_body, decode_slot_header, encode_header, encode_slot,
    format_area, next_write, read_area, AreaHeader, AreaRead, AreaWrite, CompactArea, CopyStatus,
    DecodedArea, SlotHeader,
};
pub use departure::{departure, stale_departed, Departure, Takeover};
pub use read::AreaState;
pub(crate) use read::{area_base, read_area_at, write_next};
pub use read::{area_offset, write_present};
pub use types::*;
pub use validate::{label_problem, LabelContext, MAX_GENERATION};

/// Binary layout version written into headers and slots.
pub const LAYOUT_VERSION: u32 = 1;
/// Header magic (at byte 4096 and 8192 of the private area).
pub const HEADER_MAGIC: [u8; 16] = *b"DMCLASS-PRIVATE\0";
/// Slot magic.
pub const SLOT_MAGIC: [u8; 8] = *b"DMCLSLOT";
/// Size of a header copy and of a slot header.
pub const BLOCK: usize = 4096;
/// Byte offsets of header copies A and B.
pub const HEADER_OFFSETS: [u64; 2] = [4096, 8192];
/// Byte offsets of the two configuration slots.
pub const SLOT_OFFSETS: [u64; 2] = [MIB, 16 * MIB];
/// Size of one configuration slot.
pub const SLOT_SIZE: u64 = 15 * MIB;
/// Largest JSON body a slot holds.
pub const MAX_BODY: usize = 15 * 1024 * 1024 - BLOCK;
/// Size of the whole private area.
pub const AREA_SIZE: u64 = 32 * MIB;
/// Longest class name stored in the header.
pub const HEADER_NAME_MAX: usize = 64;

const MIB: u64 = 1024 * 1024;

/// Size of the private area in sectors: the first sector the allocator may use.
pub fn area_sectors() -> dmclass_model::Sectors {
    dmclass_model::Bytes(AREA_SIZE).to_sectors_ceil()
}

#[cfg(test)]
mod tests;
