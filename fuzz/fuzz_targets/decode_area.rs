//! Fuzz the private-area decoder: any input must decode or fail, never panic.
//! Run: `cargo +nightly fuzz run decode_area` in crates/dmclass-engine.
#![no_main]

use dmclass_engine::metadata::{read_area, CompactArea};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Compact image: headers, then slot 0 and slot 1 (see `CompactArea`).
    let _ = read_area("fuzz", &mut CompactArea(data));
    // The same bytes as a plain area prefix.
    let _ = dmclass_engine::metadata::decode_area("fuzz", data);
    // And each block decoder on its own.
    let _ = dmclass_engine::metadata::decode_header(data);
    let _ = dmclass_engine::status::parse_raid_status(&String::from_utf8_lossy(data));
    let _ = dmclass_engine::status::parse_mirror_status(&String::from_utf8_lossy(data));
});
