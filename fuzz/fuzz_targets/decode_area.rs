//! Fuzz the on-disk metadata decoder (the private area of every member disk).
//!
//! Input: one mode byte, then a compact area image ([`CompactArea`]: two header
//! copies, then slot 0 and slot 1). With mode bit 0 set the harness repairs every
//! checksum first, as a careful forger would, so that the fuzzer reaches the field
//! checks and the JSON body instead of stopping at a CRC. Any input must decode or
//! fail, never panic. A decoded area must encode back (`format_area`) to an image
//! that decodes to the same header and class; an update (`next_write`) must win on
//! the next read; and the class must survive what dmclass does with it (export to a
//! configuration file, snapshot and proxy views).
#![no_main]

use dmclass_engine::metadata::{
    decode_area, decode_header, format_area, next_write, read_area, AreaRead, AreaWrite,
    CompactArea, BLOCK, HEADER_OFFSETS, SLOT_OFFSETS,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

/// Offset of the trailing CRC32C in a header or slot-header block.
const CRC_AT: usize = BLOCK - 4;

fn reseal(block: &mut [u8]) {
    if block.len() >= BLOCK {
        let crc = crc32c::crc32c(&block[..CRC_AT]);
        block[CRC_AT..BLOCK].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Repair the header, slot-header and body checksums of a compact image in place.
fn repair(image: &mut [u8]) {
    let split = image.len().min(2 * BLOCK);
    let (heads, slots) = image.split_at_mut(split);
    for h in heads.chunks_mut(BLOCK) {
        reseal(h);
    }
    let half = slots.len() / 2;
    let (s0, s1) = slots.split_at_mut(half);
    for s in [s0, &mut s1[..half]] {
        if s.len() < BLOCK {
            continue;
        }
        let len = u64::from_le_bytes(s[56..64].try_into().unwrap_or_default());
        let avail = (s.len() - BLOCK) as u64;
        if len <= avail {
            let end = BLOCK + usize::try_from(len).unwrap_or(0);
            let crc = crc32c::crc32c(&s[BLOCK..end]);
            s[64..68].copy_from_slice(&crc.to_le_bytes());
        }
        reseal(&mut s[..BLOCK]);
    }
}

/// A sparse area: byte runs at their offsets, as the writes left them.
#[derive(Default)]
struct Sparse(BTreeMap<u64, Vec<u8>>);

impl Sparse {
    fn apply(&mut self, w: &AreaWrite) {
        let run = self.0.entry(w.offset).or_default();
        if run.len() < w.data.len() {
            run.resize(w.data.len(), 0);
        }
        run[..w.data.len()].copy_from_slice(&w.data);
    }
}

impl AreaRead for Sparse {
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        // The run starting at or before `offset` (writes never straddle runs here).
        let Some((start, run)) = self.0.range(..=offset).next_back() else {
            return Ok(Vec::new());
        };
        let mut r: &[u8] = run;
        r.read_at(offset - start, len)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, image)) = data.split_first() else {
        return;
    };
    let mut image = image.to_vec();
    if mode & 1 == 1 {
        repair(&mut image);
    }

    // The same bytes as a plain area prefix and each header decoder on its own.
    let _ = decode_area("fuzz", &image);
    let _ = decode_header(&image);

    let Ok(area) = read_area("fuzz", &mut CompactArea(&image)) else {
        return;
    };
    assert!(area.active < 2);

    // Encode again: a fresh area holding the decoded class reads back the same.
    let writes = format_area(&area.header, &area.meta).expect("a decoded class encodes");
    let mut disk = Sparse::default();
    for w in &writes {
        assert_eq!(w.offset % BLOCK as u64, 0);
        assert_eq!(w.data.len() % BLOCK, 0);
        disk.apply(w);
    }
    let again = read_area("fuzz", &mut disk).expect("a re-encoded area decodes");
    assert_eq!(again.header, area.header);
    assert_eq!(again.meta, area.meta);

    // An update lands in the other slot and wins.
    if let Some(next) = area.meta.generation.checked_add(1) {
        let mut meta = area.meta.clone();
        meta.generation = next;
        let w = next_write(&again, &meta).expect("a newer generation is written");
        assert!(w.offset == SLOT_OFFSETS[0] || w.offset == SLOT_OFFSETS[1]);
        assert!(w.offset > HEADER_OFFSETS[1]);
        disk.apply(&w);
        let updated = read_area("fuzz", &mut disk).expect("an updated area decodes");
        assert_eq!(updated.meta, meta);
        assert_ne!(updated.active, again.active);
    }

    // What dmclass does with a class it read.
    if let Ok(config) = dmclass_engine::export::export(&area.meta) {
        let _ = dmclass_model::to_yaml(&config);
    }
    let _ = dmclass_engine::cow::cow_snapshots(&area.meta);
    let _ = dmclass_engine::proxy::proxies(&area.meta);
    let _ = dmclass_engine::proxy::exported(&area.meta);
    let _ = dmclass_engine::closing::copy_holders(&area.meta);
});
