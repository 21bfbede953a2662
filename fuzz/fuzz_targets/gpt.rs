//! Fuzz the GUID partition table decoder (a keep disk's table is read from the admin's
//! system disk) and what the root class decides from a table.
//!
//! Input: one mode byte, then the header sector (LBA 1, 512 bytes) and the entry
//! array. With mode bit 0 set the harness repairs both CRC32s first, so the fuzzer
//! reaches the field, bounds and overlap checks. Any input must decode or fail, never
//! panic. A decoded table must survive the keep-disk planner, and a table dmclass
//! writes for it must read back with the same partitions.
#![no_main]

use dmclass_engine::gpt::{decode, encode};
use dmclass_engine::root::keep::plan_keep;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut lba1 = [0u8; 512];
    let n = rest.len().min(512);
    lba1[..n].copy_from_slice(&rest[..n]);
    let mut entries = rest.get(512..).unwrap_or(&[]).to_vec();
    if mode & 1 == 1 {
        let count = u32::from_le_bytes([lba1[80], lba1[81], lba1[82], lba1[83]]) as usize;
        let size = u32::from_le_bytes([lba1[84], lba1[85], lba1[86], lba1[87]]) as usize;
        if let Some(len) = count.checked_mul(size).filter(|&l| l <= entries.len()) {
            let crc = crc32fast::hash(&entries[..len]);
            lba1[88..92].copy_from_slice(&crc.to_le_bytes());
        }
        let hsize = u32::from_le_bytes([lba1[12], lba1[13], lba1[14], lba1[15]]) as usize;
        if (92..=512).contains(&hsize) {
            lba1[16..20].fill(0);
            let crc = crc32fast::hash(&lba1[..hsize]);
            lba1[16..20].copy_from_slice(&crc.to_le_bytes());
        }
    }
    if mode & 2 == 2 {
        entries.truncate(usize::from(mode) * 64);
    }
    let Ok(gpt) = decode(&lba1, &entries, 512) else {
        return;
    };
    let _ = plan_keep(&gpt);
    let sectors = gpt.backup_lba.saturating_add(1).min(1 << 40);
    if let Ok((start, _end)) = encode(&gpt, sectors) {
        let back = decode(&start[512..1024], &start[1024..], 512).expect("own table decodes");
        assert_eq!(back.partitions, gpt.partitions);
    }
});
