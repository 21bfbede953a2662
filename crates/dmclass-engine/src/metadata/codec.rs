//! Binary encoding and total decoding of headers and slots (layout in the module doc).

use super::types::{ClassMeta, BODY_FORMAT};
use super::{
    AREA_SIZE, BLOCK, HEADER_MAGIC, HEADER_NAME_MAX, HEADER_OFFSETS, LAYOUT_VERSION, MAX_BODY,
    SLOT_MAGIC, SLOT_OFFSETS, SLOT_SIZE,
};
use crate::error::{EngineError, MetaProblem, Result};
use dmclass_model::Sectors;
use uuid::Uuid;

/// Offset of the trailing CRC32C in a header or slot-header block.
const CRC_AT: usize = BLOCK - 4;

/// Decoded contents of a header copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaHeader {
    /// Class UUID.
    pub class_uuid: Uuid,
    /// UUID of the disk carrying this area.
    pub disk_uuid: Uuid,
    /// Disk size when registered.
    pub disk_size: Sectors,
    /// Class name (for `probe`, without decoding a slot).
    pub class_name: String,
}

/// Decoded slot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotHeader {
    /// Slot index (0 or 1).
    pub index: u32,
    /// Generation of the body.
    pub generation: u64,
    /// Body length in bytes (at most [`MAX_BODY`]).
    pub body_len: usize,
    /// CRC32C of the body.
    pub body_crc: u32,
}

/// Validity of one copy (header copy or slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyStatus {
    /// Valid; for a slot, with its generation.
    Valid {
        /// Slot generation (None for header copies).
        generation: Option<u64>,
    },
    /// Rejected, and why.
    Invalid(MetaProblem),
}

/// Result of reading a private area: the winning class description and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedArea {
    /// The header in use (copy A if valid, else B).
    pub header: AreaHeader,
    /// Status of header copies A and B.
    pub headers: [CopyStatus; 2],
    /// Status of slots 0 and 1.
    pub slots: [CopyStatus; 2],
    /// Index of the slot whose description won.
    pub active: usize,
    /// The newest valid class description.
    pub meta: ClassMeta,
}

/// One write to a private area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaWrite {
    /// Byte offset in the private area (multiple of 4096).
    pub offset: u64,
    /// Bytes to write (multiple of 4096).
    pub data: Vec<u8>,
}

/// Random-access reads of a private area (the Linux side implements it with
/// `O_DIRECT`; tests and the fuzzer with byte slices).
pub trait AreaRead {
    /// Read up to `len` bytes at `offset`; fewer bytes mean the area ends there.
    fn read_at(&mut self, offset: u64, len: usize) -> std::result::Result<Vec<u8>, String>;
}

impl AreaRead for &[u8] {
    fn read_at(&mut self, offset: u64, len: usize) -> std::result::Result<Vec<u8>, String> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let end = start.saturating_add(len).min(self.len());
        Ok(self.get(start..end).unwrap_or_default().to_vec())
    }
}

/// A compact in-memory image of an area for tests and fuzzing: the first 8192 bytes
/// are the two header copies (area offset 4096), the rest is split in half between
/// slot 0 and slot 1 (each mapped at its slot offset). Reads elsewhere return nothing.
#[derive(Debug, Clone, Copy)]
pub struct CompactArea<'a>(pub &'a [u8]);

impl AreaRead for CompactArea<'_> {
    fn read_at(&mut self, offset: u64, len: usize) -> std::result::Result<Vec<u8>, String> {
        let split = self.0.len().min(2 * BLOCK);
        let (heads, slots) = self.0.split_at(split);
        let (s0, s1) = slots.split_at(slots.len() / 2);
        let (mut part, base): (&[u8], u64) = if offset >= SLOT_OFFSETS[1] {
            (s1, SLOT_OFFSETS[1])
        } else if offset >= SLOT_OFFSETS[0] {
            (s0, SLOT_OFFSETS[0])
        } else if offset >= HEADER_OFFSETS[0] {
            (heads, HEADER_OFFSETS[0])
        } else {
            return Ok(Vec::new());
        };
        part.read_at(offset - base, len)
    }
}

fn u32_at(b: &[u8; BLOCK], o: usize) -> u32 {
    let mut a = [0u8; 4];
    for (i, x) in a.iter_mut().enumerate() {
        *x = b.get(o + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8; BLOCK], o: usize) -> u64 {
    let mut a = [0u8; 8];
    for (i, x) in a.iter_mut().enumerate() {
        *x = b.get(o + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(a)
}

fn uuid_at(b: &[u8; BLOCK], o: usize) -> Uuid {
    let mut a = [0u8; 16];
    for (i, x) in a.iter_mut().enumerate() {
        *x = b.get(o + i).copied().unwrap_or(0);
    }
    Uuid::from_bytes(a)
}

fn put(b: &mut [u8; BLOCK], o: usize, v: &[u8]) {
    if let Some(dst) = b.get_mut(o..o + v.len()) {
        dst.copy_from_slice(v);
    }
}

fn seal(b: &mut [u8; BLOCK]) {
    let crc = crc32c::crc32c(b.get(..CRC_AT).unwrap_or_default());
    put(b, CRC_AT, &crc.to_le_bytes());
}

/// Copy exactly one block out of `bytes`, or say how short it is.
fn block(bytes: &[u8]) -> std::result::Result<[u8; BLOCK], MetaProblem> {
    let src = bytes.get(..BLOCK).ok_or(MetaProblem::Truncated {
        need: BLOCK,
        have: bytes.len(),
    })?;
    let mut b = [0u8; BLOCK];
    b.copy_from_slice(src);
    Ok(b)
}

fn check_crc(b: &[u8; BLOCK]) -> std::result::Result<(), MetaProblem> {
    let stored = u32_at(b, CRC_AT);
    let computed = crc32c::crc32c(b.get(..CRC_AT).unwrap_or_default());
    if stored == computed {
        Ok(())
    } else {
        Err(MetaProblem::Crc { stored, computed })
    }
}

fn check_version(b: &[u8; BLOCK], at: usize) -> std::result::Result<(), MetaProblem> {
    match u32_at(b, at) {
        LAYOUT_VERSION => Ok(()),
        v => Err(MetaProblem::Version {
            found: v,
            supported: LAYOUT_VERSION,
        }),
    }
}

fn check_field(field: &'static str, value: u64, want: u64) -> std::result::Result<(), MetaProblem> {
    if value == want {
        Ok(())
    } else {
        Err(MetaProblem::Field { field, value })
    }
}

/// Encode header copy `copy` (0 = A, 1 = B). Names longer than 64 bytes are cut at a
/// character boundary (the slot body keeps the full name).
pub fn encode_header(h: &AreaHeader, copy: u32) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    put(&mut b, 0, &HEADER_MAGIC);
    put(&mut b, 16, &LAYOUT_VERSION.to_le_bytes());
    put(&mut b, 20, &copy.to_le_bytes());
    put(&mut b, 24, h.class_uuid.as_bytes());
    put(&mut b, 40, h.disk_uuid.as_bytes());
    put(&mut b, 56, &AREA_SIZE.to_le_bytes());
    put(&mut b, 64, &SLOT_SIZE.to_le_bytes());
    put(&mut b, 72, &SLOT_OFFSETS[0].to_le_bytes());
    put(&mut b, 80, &SLOT_OFFSETS[1].to_le_bytes());
    put(&mut b, 88, &h.disk_size.0.to_le_bytes());
    let mut name = h.class_name.as_str();
    while name.len() > HEADER_NAME_MAX {
        let mut cut = HEADER_NAME_MAX;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name = name.get(..cut).unwrap_or_default();
    }
    put(&mut b, 96, name.as_bytes());
    seal(&mut b);
    b
}

/// Decode one header copy (the 4096 bytes at 4096 or 8192).
pub fn decode_header(bytes: &[u8]) -> std::result::Result<AreaHeader, MetaProblem> {
    let b = block(bytes)?;
    if b.get(..16) != Some(&HEADER_MAGIC[..]) {
        return Err(MetaProblem::Absent);
    }
    check_crc(&b)?;
    check_version(&b, 16)?;
    let copy = u32_at(&b, 20);
    if copy > 1 {
        return Err(MetaProblem::Field {
            field: "copy",
            value: copy.into(),
        });
    }
    check_field("area_len", u64_at(&b, 56), AREA_SIZE)?;
    check_field("slot_size", u64_at(&b, 64), SLOT_SIZE)?;
    check_field("slot0_offset", u64_at(&b, 72), SLOT_OFFSETS[0])?;
    check_field("slot1_offset", u64_at(&b, 80), SLOT_OFFSETS[1])?;
    let raw = b.get(96..96 + HEADER_NAME_MAX).unwrap_or_default();
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    let class_name = std::str::from_utf8(raw.get(..end).unwrap_or_default())
        .map_err(|_| MetaProblem::Body("class name in header is not UTF-8".into()))?
        .to_owned();
    Ok(AreaHeader {
        class_uuid: uuid_at(&b, 24),
        disk_uuid: uuid_at(&b, 40),
        disk_size: Sectors(u64_at(&b, 88)),
        class_name,
    })
}

/// Encode slot `index` holding `meta`: slot header + JSON body, padded to 4096.
/// Fails when the body exceeds the slot or `meta` belongs to another class.
pub fn encode_slot(h: &AreaHeader, index: u32, meta: &ClassMeta) -> Result<Vec<u8>> {
    if meta.uuid != h.class_uuid {
        return Err(EngineError::InvalidLayout(format!(
            "metadata of class {} written to a disk of class {}",
            meta.uuid, h.class_uuid
        )));
    }
    let body = serde_json::to_vec(meta).map_err(|e| EngineError::MetaEncode(e.to_string()))?;
    if body.len() > MAX_BODY {
        return Err(EngineError::MetaTooLarge {
            len: body.len(),
            max: MAX_BODY,
        });
    }
    let mut b = [0u8; BLOCK];
    put(&mut b, 0, &SLOT_MAGIC);
    put(&mut b, 8, &LAYOUT_VERSION.to_le_bytes());
    put(&mut b, 12, &index.to_le_bytes());
    put(&mut b, 16, h.class_uuid.as_bytes());
    put(&mut b, 32, h.disk_uuid.as_bytes());
    put(&mut b, 48, &meta.generation.to_le_bytes());
    put(&mut b, 56, &(body.len() as u64).to_le_bytes());
    put(&mut b, 64, &crc32c::crc32c(&body).to_le_bytes());
    seal(&mut b);
    let total = BLOCK + body.len().div_ceil(BLOCK) * BLOCK;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&b);
    out.extend_from_slice(&body);
    out.resize(total, 0);
    Ok(out)
}

/// Decode the first block of slot `index` and check it against the header.
pub fn decode_slot_header(
    h: &AreaHeader,
    index: u32,
    bytes: &[u8],
) -> std::result::Result<SlotHeader, MetaProblem> {
    let b = block(bytes)?;
    if b.get(..8) != Some(&SLOT_MAGIC[..]) {
        return Err(MetaProblem::Absent);
    }
    check_crc(&b)?;
    check_version(&b, 8)?;
    check_field("slot_index", u32_at(&b, 12).into(), index.into())?;
    if uuid_at(&b, 16) != h.class_uuid || uuid_at(&b, 32) != h.disk_uuid {
        return Err(MetaProblem::UuidMismatch);
    }
    let len = u64_at(&b, 56);
    let body_len =
        usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_BODY)
            .ok_or(MetaProblem::Field {
                field: "body_len",
                value: len,
            })?;
    Ok(SlotHeader {
        index,
        generation: u64_at(&b, 48),
        body_len,
        body_crc: u32_at(&b, 64),
    })
}

/// Decode a slot body (at least `s.body_len` bytes; extra padding is ignored).
pub fn decode_slot_body(
    h: &AreaHeader,
    s: &SlotHeader,
    bytes: &[u8],
) -> std::result::Result<ClassMeta, MetaProblem> {
    let body = bytes.get(..s.body_len).ok_or(MetaProblem::Truncated {
        need: s.body_len,
        have: bytes.len(),
    })?;
    let computed = crc32c::crc32c(body);
    if computed != s.body_crc {
        return Err(MetaProblem::BodyCrc {
            stored: s.body_crc,
            computed,
        });
    }
    let meta: ClassMeta =
        serde_json::from_slice(body).map_err(|e| MetaProblem::Body(e.to_string()))?;
    if meta.format != BODY_FORMAT {
        return Err(MetaProblem::Field {
            field: "format",
            value: meta.format.into(),
        });
    }
    if meta.uuid != h.class_uuid {
        return Err(MetaProblem::UuidMismatch);
    }
    if meta.generation != s.generation {
        return Err(MetaProblem::Generation {
            header: s.generation,
            body: meta.generation,
        });
    }
    Ok(meta)
}

fn read_slot(
    h: &AreaHeader,
    index: u32,
    r: &mut dyn AreaRead,
) -> std::result::Result<ClassMeta, MetaProblem> {
    let base = SLOT_OFFSETS[usize::from(index == 1)];
    let first = r.read_at(base, BLOCK).map_err(MetaProblem::Io)?;
    let sh = decode_slot_header(h, index, &first)?;
    // Bounded: body_len <= MAX_BODY was checked by decode_slot_header.
    let want = sh.body_len.div_ceil(BLOCK) * BLOCK;
    let body = r
        .read_at(base + BLOCK as u64, want)
        .map_err(MetaProblem::Io)?;
    decode_slot_body(h, &sh, &body)
}

/// Read and decode a private area through `r`, reading only the headers, the slot
/// headers and the bodies they announce. `disk` labels errors.
pub fn read_area(disk: &str, r: &mut dyn AreaRead) -> Result<DecodedArea> {
    let need = 2 * BLOCK;
    let heads = r
        .read_at(HEADER_OFFSETS[0], need)
        .map_err(|reason| EngineError::Read {
            disk: disk.to_owned(),
            offset: HEADER_OFFSETS[0],
            len: need,
            reason,
        })?;
    let a = decode_header(heads.get(..BLOCK).unwrap_or(&heads));
    let b = decode_header(heads.get(BLOCK..).unwrap_or_default());
    let status = |x: &std::result::Result<AreaHeader, MetaProblem>| match x {
        Ok(_) => CopyStatus::Valid { generation: None },
        Err(p) => CopyStatus::Invalid(p.clone()),
    };
    let headers = [status(&a), status(&b)];
    let header = match (a, b) {
        (Ok(h), _) | (Err(_), Ok(h)) => h,
        (Err(MetaProblem::Absent | MetaProblem::Truncated { .. }), Err(MetaProblem::Absent)) => {
            return Err(EngineError::NotMember {
                disk: disk.to_owned(),
            })
        }
        (Err(a), Err(b)) => {
            return Err(EngineError::NoValidHeader {
                disk: disk.to_owned(),
                a,
                b,
            })
        }
    };
    let s0 = read_slot(&header, 0, r);
    let s1 = read_slot(&header, 1, r);
    let slot_status = |x: &std::result::Result<ClassMeta, MetaProblem>| match x {
        Ok(m) => CopyStatus::Valid {
            generation: Some(m.generation),
        },
        Err(p) => CopyStatus::Invalid(p.clone()),
    };
    let slots = [slot_status(&s0), slot_status(&s1)];
    let (active, meta) = match (s0, s1) {
        (Ok(m0), Ok(m1)) => {
            if m1.generation > m0.generation {
                (1, m1)
            } else {
                (0, m0)
            }
        }
        (Ok(m0), Err(_)) => (0, m0),
        (Err(_), Ok(m1)) => (1, m1),
        (Err(slot0), Err(slot1)) => {
            return Err(EngineError::NoValidSlot {
                disk: disk.to_owned(),
                slot0,
                slot1,
            })
        }
    };
    Ok(DecodedArea {
        header,
        headers,
        slots,
        active,
        meta,
    })
}

/// Decode a private area held in memory (the whole area or any prefix of it).
pub fn decode_area(disk: &str, bytes: &[u8]) -> Result<DecodedArea> {
    let mut r: &[u8] = bytes;
    read_area(disk, &mut r)
}

/// The write that records `meta` on a disk whose area decoded as `area`: the slot
/// that does not hold the winning generation. `meta.generation` must be newer than
/// every valid generation on the disk.
pub fn next_write(area: &DecodedArea, meta: &ClassMeta) -> Result<AreaWrite> {
    let current = area
        .slots
        .iter()
        .filter_map(|s| match s {
            CopyStatus::Valid { generation } => *generation,
            CopyStatus::Invalid(_) => None,
        })
        .max()
        .unwrap_or(0);
    if meta.generation <= current {
        return Err(EngineError::StaleGeneration {
            current,
            new: meta.generation,
        });
    }
    let index = usize::from(area.active == 0);
    Ok(AreaWrite {
        offset: SLOT_OFFSETS[index],
        data: encode_slot(&area.header, u32::from(index == 1), meta)?,
    })
}

/// The writes that make a fresh private area holding `meta`, in the order they must
/// reach the disk: zero block 0, invalidate slot 1, write slot 0, then header B and
/// header A last (a crash before the headers leaves the disk a non-member).
pub fn format_area(h: &AreaHeader, meta: &ClassMeta) -> Result<Vec<AreaWrite>> {
    Ok(vec![
        AreaWrite {
            offset: 0,
            data: vec![0; BLOCK],
        },
        AreaWrite {
            offset: SLOT_OFFSETS[1],
            data: vec![0; BLOCK],
        },
        AreaWrite {
            offset: SLOT_OFFSETS[0],
            data: encode_slot(h, 0, meta)?,
        },
        AreaWrite {
            offset: HEADER_OFFSETS[1],
            data: encode_header(h, 1).to_vec(),
        },
        AreaWrite {
            offset: HEADER_OFFSETS[0],
            data: encode_header(h, 0).to_vec(),
        },
    ])
}
