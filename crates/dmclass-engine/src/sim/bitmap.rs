//! The md write-intent bitmap of simulated raid1 sets, kept ON DISK in each leg's
//! rmeta in the kernel's format ([`crate::md_bitmap`]), so dmclass reads the
//! simulator's bitmaps with the decoder it uses on the real kernel's.
//!
//! What is modelled: the bitmap superblock is written with the raid superblocks on a
//! resume (version 4, the set's size, the region size as chunk); a write while the set
//! is degraded (a leg failed or absent) sets the bits of its regions on every working
//! leg's rmeta before the data is written (write intent); the bits are cleared when
//! every leg is back in sync. A returning leg gets the regions of the bitmap on disk
//! as well as those remembered in memory, so a re-add after the set was stopped and
//! started again copies what changed meanwhile, as md's bitmap-based recovery does.
//! Not modelled: the kernel's initial all-dirty (stale) bitmap of a new set, cleared
//! by its bitmap daemon a few seconds later.

use super::data::Buf;
use super::table::Mapping;
use super::World;
use crate::io::DevNum;
use crate::md_bitmap::{decode, decode_super, read_len, set_bit, BitmapRead, BitmapSuper};
use crate::md_bitmap::{SB_LEN, SB_OFFSET};

impl World {
    /// rmeta devices of the working legs of line `line` of `name` (raid1 only).
    fn live_metas(&self, name: &str, line: usize) -> Vec<DevNum> {
        let Some(d) = self.dm.get(name) else {
            return Vec::new();
        };
        let Some(Mapping::Raid1(r)) = d.live.as_ref().and_then(|t| t.maps.get(line)) else {
            return Vec::new();
        };
        let dead = d
            .redundancy
            .get(line)
            .map(|x| x.dead.clone())
            .unwrap_or_default();
        r.legs
            .iter()
            .enumerate()
            .filter(|(i, l)| l.data.is_some() && !dead.get(*i).copied().unwrap_or(false))
            .filter_map(|(_, l)| l.meta)
            .filter(|&m| self.healthy(m, 0))
            .collect()
    }

    /// Set the bits of `regions` in the on-disk bitmaps of the working legs of line
    /// `line` of `name` (before a degraded write reaches the data).
    pub(crate) fn mark_bitmaps(&mut self, name: &str, line: usize, regions: &[u64]) {
        for meta in self.live_metas(name, line) {
            let Some(head) = self.peek(meta, SB_OFFSET, SB_LEN) else {
                continue;
            };
            let Ok(sb) = decode_super(&head) else {
                continue; // no bitmap yet: written at the next resume
            };
            let n = SB_LEN + usize::try_from(sb.bits_len()).unwrap_or(0);
            let Some(mut b) = self.peek(meta, SB_OFFSET, n) else {
                continue;
            };
            let before = b.clone();
            if let Some(bits) = b.get_mut(SB_LEN..) {
                for &r in regions {
                    set_bit(bits, r);
                }
            }
            if b != before {
                // Whole sectors, as the kernel writes bitmap pages.
                let len = n.div_ceil(512) * 512;
                let mut w = self.peek(meta, SB_OFFSET, len).unwrap_or_default();
                if let Some(dst) = w.get_mut(..n) {
                    dst.copy_from_slice(&b);
                }
                // A failed write shows up as a dead leg on the next I/O; ignore here.
                let _ = self.node_io(meta, SB_OFFSET, Buf::W(&w), 0);
            }
        }
    }

    /// The regions set in the on-disk bitmap of `meta` (none when it has no valid one).
    pub(crate) fn bitmap_regions(&self, meta: DevNum, sectors: u64, region: u64) -> Vec<u64> {
        let Some(b) = self.peek(meta, SB_OFFSET, read_len(sectors, region)) else {
            return Vec::new();
        };
        match decode(&b) {
            BitmapRead::Valid { dirty, .. } => dirty,
            _ => Vec::new(),
        }
    }

    /// After a resume: every working leg's rmeta holds a bitmap over `sectors` with
    /// `region` sectors per bit, with exactly the bits of `dirty` (the regions some leg
    /// still misses) set.
    pub(crate) fn write_bitmaps(
        &mut self,
        metas: &[DevNum],
        sectors: u64,
        region: u64,
        dirty: &[u64],
    ) {
        let Ok(chunk_bytes) = u32::try_from(region.saturating_mul(512)) else {
            return;
        };
        let sb = BitmapSuper {
            version: 4,
            events: 1,
            events_cleared: 1,
            sync_size: sectors,
            state: 0,
            chunk_bytes,
        };
        let n = SB_LEN + usize::try_from(sb.bits_len()).unwrap_or(0);
        let mut b = vec![0u8; n.div_ceil(512) * 512];
        b[..SB_LEN].copy_from_slice(&sb.encode());
        if let Some(bits) = b.get_mut(SB_LEN..n) {
            for &r in dirty {
                set_bit(bits, r);
            }
        }
        for &m in metas {
            if !self.healthy(m, 0) {
                continue;
            }
            let same = self.peek(m, SB_OFFSET, b.len()).is_some_and(|x| x == b);
            if !same {
                // A failed write shows up as a dead leg on the next I/O; ignore here.
                let _ = self.node_io(m, SB_OFFSET, Buf::W(&b), 0);
            }
        }
    }
}
