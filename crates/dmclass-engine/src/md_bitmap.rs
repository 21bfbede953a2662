//! The md write-intent bitmap that dm-raid keeps in each `_rmeta` device, decoded
//! (and, for the simulated kernel, encoded) so a proxy rejoin or restore copies only
//! the regions that changed.
//!
//! Where it is, from the kernel source (not guessed):
//! * dm-raid.c sets `mddev->bitmap_info.offset = to_sector(4096)` for raid1 (raid0
//!   and journaled sets have none) and the rdev's superblock starts at sector 0 of the
//!   metadata device, so the bitmap superblock is at **byte 4096** of the rmeta.
//! * md-bitmap.h, `bitmap_super_t` (little-endian, 256 bytes): `magic` (0x6d746962)
//!   @0, `version` @4, `uuid[16]` @8, `events` @24, `events_cleared` @32, `sync_size`
//!   (sectors) @40, `state` @48, `chunksize` (bytes) @52, `daemon_sleep` @56,
//!   `write_behind` @60, `sectors_reserved` @64, `nodes` @68, `cluster_name[64]` @72.
//! * md-bitmap.c: the bits follow the superblock in the same page
//!   (`file_page_offset` adds `sizeof(bitmap_super_t)`), one bit per chunk, in
//!   little-endian bit order (`test_bit_le`: chunk `i` is bit `i % 8` of byte `i / 8`)
//!   for version 4 (`BITMAP_MAJOR_HI`); version 3 was host-endian, which on the
//!   little-endian machines dmclass runs on is the same.
//! * `state` bit 1 (`BITMAP_STALE`, value 2) means the bits are not to be trusted
//!   (the kernel then dirties every chunk).
//!
//! A bit is set on disk before the write it covers reaches the data (write intent) and
//! stays set while the array is degraded, so after the array stops the on-disk bits
//! are a superset of the regions written since it became degraded.

/// `BITMAP_MAGIC`: "bitm" as a little-endian u32.
pub const MAGIC: u32 = 0x6d74_6962;
/// Byte offset of the bitmap superblock in an rmeta device (dm-raid: 4096).
pub const SB_OFFSET: u64 = 4096;
/// `sizeof(bitmap_super_t)`: the bits start this many bytes after the superblock.
pub const SB_LEN: usize = 256;
/// `state` flag: the bitmap is out of date (`1 << BITMAP_STALE`).
pub const STATE_STALE: u32 = 2;
/// Oldest and newest bitmap versions dmclass reads (3: host-endian, 4: little-endian;
/// 5 is clustered md, never used by dm-raid).
const VERSIONS: std::ops::RangeInclusive<u32> = 3..=4;
/// Most chunks dmclass accepts (a bound on what it reads: 16 Mi chunks = 2 MiB of bits).
pub const MAX_CHUNKS: u64 = 1 << 24;

/// The decoded bitmap superblock fields dmclass uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapSuper {
    /// `version` (3 or 4).
    pub version: u32,
    /// md event counter of the bitmap.
    pub events: u64,
    /// Event count when bits were last cleared.
    pub events_cleared: u64,
    /// Size of the array's sync range in sectors.
    pub sync_size: u64,
    /// `state` flags ([`STATE_STALE`]).
    pub state: u32,
    /// Bytes of data per bit.
    pub chunk_bytes: u32,
}

impl BitmapSuper {
    /// Chunks (bits) the bitmap covers.
    pub fn chunks(&self) -> u64 {
        let chunk = u64::from(self.chunk_bytes / 512).max(1);
        self.sync_size.div_ceil(chunk)
    }

    /// Bytes of bits that follow the superblock.
    pub fn bits_len(&self) -> u64 {
        self.chunks().div_ceil(8)
    }

    /// The 256-byte superblock (the simulated kernel writes it).
    pub fn encode(&self) -> [u8; SB_LEN] {
        let mut b = [0u8; SB_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[24..32].copy_from_slice(&self.events.to_le_bytes());
        b[32..40].copy_from_slice(&self.events_cleared.to_le_bytes());
        b[40..48].copy_from_slice(&self.sync_size.to_le_bytes());
        b[48..52].copy_from_slice(&self.state.to_le_bytes());
        b[52..56].copy_from_slice(&self.chunk_bytes.to_le_bytes());
        b[56..60].copy_from_slice(&5u32.to_le_bytes()); // daemon_sleep (seconds)
        b
    }
}

/// What an rmeta holds at [`SB_OFFSET`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitmapRead {
    /// A bitmap: its superblock and the chunks whose bit is set, ascending.
    Valid {
        /// The superblock.
        sb: BitmapSuper,
        /// Dirty chunk numbers.
        dirty: Vec<u64>,
    },
    /// No bitmap magic (a zeroed rmeta, or an array never started).
    Absent,
    /// Something dmclass cannot trust, and why.
    Invalid(String),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decode the superblock at the start of `b` (the bytes from [`SB_OFFSET`]).
pub fn decode_super(b: &[u8]) -> Result<BitmapSuper, BitmapRead> {
    let Some(magic) = u32_at(b, 0) else {
        return Err(BitmapRead::Invalid(
            "short read of the bitmap superblock".into(),
        ));
    };
    if magic != MAGIC {
        return Err(BitmapRead::Absent);
    }
    let bad = |w: &str| Err(BitmapRead::Invalid(w.to_owned()));
    let (Some(version), Some(events), Some(cleared), Some(sync), Some(state), Some(chunk)) = (
        u32_at(b, 4),
        u64_at(b, 24),
        u64_at(b, 32),
        u64_at(b, 40),
        u32_at(b, 48),
        u32_at(b, 52),
    ) else {
        return bad("short read of the bitmap superblock");
    };
    if !VERSIONS.contains(&version) {
        return bad(&format!("bitmap version {version} (3 or 4 expected)"));
    }
    if chunk < 512 || !chunk.is_power_of_two() {
        return bad(&format!("bitmap chunk size {chunk} bytes"));
    }
    let sb = BitmapSuper {
        version,
        events,
        events_cleared: cleared,
        sync_size: sync,
        state,
        chunk_bytes: chunk,
    };
    if sb.chunks() > MAX_CHUNKS {
        return bad(&format!("bitmap of {} chunks", sb.chunks()));
    }
    Ok(sb)
}

/// Bytes to read from [`SB_OFFSET`] to decode a bitmap over `sectors` of data with
/// `chunk_sectors` per bit.
pub fn read_len(sectors: u64, chunk_sectors: u64) -> usize {
    let bits = sectors.div_ceil(chunk_sectors.max(1)).min(MAX_CHUNKS);
    SB_LEN + usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Decode a bitmap: `b` holds the bytes of the rmeta from [`SB_OFFSET`] (untrusted:
/// never panics; a bitmap longer than `b` is [`BitmapRead::Invalid`]).
pub fn decode(b: &[u8]) -> BitmapRead {
    let sb = match decode_super(b) {
        Ok(sb) => sb,
        Err(r) => return r,
    };
    let len = usize::try_from(sb.bits_len()).unwrap_or(usize::MAX);
    let Some(bits) = b.get(SB_LEN..).and_then(|r| r.get(..len)) else {
        return BitmapRead::Invalid(format!(
            "the bitmap needs {len} bytes of bits, {} read",
            b.len().saturating_sub(SB_LEN)
        ));
    };
    let chunks = sb.chunks();
    let mut dirty = Vec::new();
    for (i, byte) in bits.iter().enumerate() {
        for bit in 0..8u64 {
            let c = i as u64 * 8 + bit;
            if c < chunks && byte & (1 << bit) != 0 {
                dirty.push(c);
            }
        }
    }
    BitmapRead::Valid { sb, dirty }
}

/// Sets chunk `c`'s bit in `bits` (the bytes after the superblock); false when `c`
/// is outside.
pub fn set_bit(bits: &mut [u8], c: u64) -> bool {
    match usize::try_from(c / 8).ok().and_then(|i| bits.get_mut(i)) {
        Some(b) => {
            *b |= 1 << (c % 8);
            true
        }
        None => false,
    }
}

/// Whether a tracking bitmap can be trusted for a leg of `sectors` data sectors with
/// `region` sectors per region: the regions written, or why not.
pub fn tracked_regions(read: &BitmapRead, sectors: u64, region: u64) -> Result<Vec<u64>, String> {
    match read {
        BitmapRead::Absent => Err("no tracking bitmap on disk".into()),
        BitmapRead::Invalid(why) => Err(format!("tracking bitmap unreadable: {why}")),
        BitmapRead::Valid { sb, dirty } => {
            if sb.state & STATE_STALE != 0 {
                return Err("tracking bitmap marked stale by the kernel".into());
            }
            if sb.sync_size != sectors {
                return Err(format!(
                    "tracking bitmap covers {} sectors, the proxy has {sectors}",
                    sb.sync_size
                ));
            }
            if u64::from(sb.chunk_bytes / 512) != region {
                return Err(format!(
                    "tracking bitmap chunk is {} sectors, the region size {region}",
                    sb.chunk_bytes / 512
                ));
            }
            Ok(dirty.clone())
        }
    }
}

/// Union of two ascending region lists, ascending and without duplicates.
pub fn union(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut v: Vec<u64> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(sync: u64, chunk: u32) -> BitmapSuper {
        BitmapSuper {
            version: 4,
            events: 7,
            events_cleared: 3,
            sync_size: sync,
            state: 0,
            chunk_bytes: chunk,
        }
    }

    fn image(s: &BitmapSuper, dirty: &[u64]) -> Vec<u8> {
        let mut b = s.encode().to_vec();
        let mut bits = vec![0u8; usize::try_from(s.bits_len()).unwrap_or(0)];
        for &c in dirty {
            assert!(set_bit(&mut bits, c));
        }
        b.extend(bits);
        b
    }

    #[test]
    fn round_trip_and_bit_order() {
        // 64 MiB at 512 KiB chunks: 128 chunks, 16 bytes of bits.
        let s = sb(131_072, 512 * 1024);
        assert_eq!(s.chunks(), 128);
        let b = image(&s, &[0, 9, 127]);
        assert_eq!(b[SB_LEN], 0b1, "chunk 0 is bit 0 of the first byte");
        assert_eq!(b[SB_LEN + 1], 0b10, "chunk 9 is bit 1 of the second byte");
        assert_eq!(&b[0..4], b"bitm");
        assert_eq!(
            decode(&b),
            BitmapRead::Valid {
                sb: s,
                dirty: vec![0, 9, 127]
            }
        );
    }

    #[test]
    fn absent_invalid_and_short() {
        assert_eq!(decode(&[0u8; 512]), BitmapRead::Absent);
        assert!(matches!(decode(&[]), BitmapRead::Invalid(_)));
        let s = sb(131_072, 512 * 1024);
        let b = image(&s, &[1]);
        assert!(matches!(decode(&b[..SB_LEN + 3]), BitmapRead::Invalid(_)));
        let mut v = b.clone();
        v[4] = 9; // version 9
        assert!(matches!(decode(&v), BitmapRead::Invalid(_)));
        let mut c = b;
        c[52..56].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(decode(&c), BitmapRead::Invalid(_)));
    }

    #[test]
    fn trust_rules() {
        let s = sb(131_072, 512 * 1024);
        let r = decode(&image(&s, &[4]));
        assert_eq!(tracked_regions(&r, 131_072, 1024), Ok(vec![4]));
        assert!(tracked_regions(&r, 131_073, 1024).is_err());
        assert!(tracked_regions(&r, 131_072, 2048).is_err());
        let mut stale = s;
        stale.state = STATE_STALE;
        let r = decode(&image(&stale, &[]));
        assert!(tracked_regions(&r, 131_072, 1024).is_err());
        assert!(tracked_regions(&BitmapRead::Absent, 1, 1).is_err());
        assert_eq!(union(&[5, 1], &[1, 3]), vec![1, 3, 5]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 0..2000usize {
            let mut b = vec![0u8; n % 700];
            for byte in &mut b {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *byte = x.to_le_bytes()[0];
            }
            if b.len() >= 8 && n % 3 == 0 {
                b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
                b[4..8].copy_from_slice(&4u32.to_le_bytes());
            }
            let _ = decode(&b);
        }
    }
}
