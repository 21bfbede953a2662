//! Snapshot data path: copy-on-write, overflow, merge, persistence of the store.
#![allow(clippy::unwrap_used)]

use super::tests::{line, mk, setup};
use super::*;
use crate::io::{Disks, Kernel};

const OLEN: u64 = 2048; // 1 MiB origin
const CHUNK: u64 = 8;

fn fill(seed: u8, len: usize) -> Vec<u8> {
    vec![seed; len]
}

/// real (linear on vda), cow (linear on vdb, `cow_len` sectors, first chunk zeroed),
/// snapshot `s` and origin `o`, resumed in LVM's order. Returns nothing; names fixed.
fn stack(k: &mut SimKernel, d: &mut SimDisks, snap: &str, cow_at: u64, cow_len: u64) {
    if k.info("real").unwrap().is_none() {
        mk(k, "real", &[line(0, OLEN, "linear", "8:0 2048")]);
    }
    d.zero(
        std::path::Path::new("/dev/vdb"),
        Bytes(cow_at * 512),
        Bytes(2 * CHUNK * 512),
    )
    .unwrap();
    let cow = format!("{snap}-cow");
    mk(
        k,
        &cow,
        &[line(0, cow_len, "linear", &format!("8:16 {cow_at}"))],
    );
    let (r, c) = (
        k.info("real").unwrap().unwrap().devnum,
        k.info(&cow).unwrap().unwrap().devnum,
    );
    mk(
        k,
        snap,
        &[line(0, OLEN, "snapshot", &format!("{r} {c} P {CHUNK}"))],
    );
    if k.info("o").unwrap().is_none() {
        mk(k, "o", &[line(0, OLEN, "snapshot-origin", &r.to_string())]);
    }
}

fn status(k: &SimKernel, name: &str) -> String {
    k.status(name).unwrap()[0].params.clone()
}

#[test]
fn origin_writes_copy_old_chunks_to_the_snapshot() {
    let (mut k, mut d) = setup();
    mk(&mut k, "real", &[line(0, OLEN, "linear", "8:0 2048")]);
    k.write_dev("real", Bytes(0), &fill(b'A', 8192)).unwrap();
    stack(&mut k, &mut d, "s", 100_000, 1024);
    assert_eq!(status(&k, "s"), "16/1024 16");
    k.write_dev("o", Bytes(512), &fill(b'B', 1024)).unwrap();
    assert_eq!(
        k.read_dev("o", Bytes(0), 2048).unwrap()[512..1536],
        fill(b'B', 1024)
    );
    assert_eq!(k.read_dev("s", Bytes(0), 8192).unwrap(), fill(b'A', 8192));
    // One chunk copied.
    assert_eq!(status(&k, "s"), "24/1024 16");
    // Writing the same chunk again copies nothing more.
    k.write_dev("o", Bytes(0), &fill(b'C', 512)).unwrap();
    assert_eq!(status(&k, "s"), "24/1024 16");
    // Writes to the snapshot land in its store only.
    k.write_dev("s", Bytes(4096 * 2), &fill(b'S', 512)).unwrap();
    assert_eq!(k.read_dev("s", Bytes(8192), 512).unwrap(), fill(b'S', 512));
    assert_eq!(k.read_dev("o", Bytes(8192), 512).unwrap(), fill(0, 512));
}

#[test]
fn a_full_store_invalidates_the_snapshot_not_the_origin() {
    let (mut k, mut d) = setup();
    // 4 chunks: header, area, two data chunks.
    stack(&mut k, &mut d, "s", 100_000, 4 * CHUNK);
    k.write_dev("o", Bytes(0), &fill(1, 4096 * 2)).unwrap();
    assert_eq!(status(&k, "s"), "32/32 16");
    k.write_dev("o", Bytes(4096 * 5), &fill(2, 4096)).unwrap();
    assert_eq!(status(&k, "s"), "Invalid");
    assert_eq!(k.read_dev("s", Bytes(0), 512).unwrap_err().errno, Some(EIO));
    assert_eq!(
        k.read_dev("o", Bytes(4096 * 5), 4096).unwrap(),
        fill(2, 4096)
    );
    // Invalid is permanent (kept on the store).
    k.remove("s").unwrap();
    let (r, c) = (
        k.info("real").unwrap().unwrap().devnum,
        k.info("s-cow").unwrap().unwrap().devnum,
    );
    mk(
        &mut k,
        "s",
        &[line(0, OLEN, "snapshot", &format!("{r} {c} P 8"))],
    );
    assert_eq!(status(&k, "s"), "Invalid");
}

#[test]
fn merge_copies_back_and_empties_the_store() {
    let (mut k, mut d) = setup();
    mk(&mut k, "real", &[line(0, OLEN, "linear", "8:0 2048")]);
    k.write_dev("real", Bytes(0), &fill(b'A', 65536)).unwrap();
    stack(&mut k, &mut d, "s", 100_000, 1024);
    stack(&mut k, &mut d, "t", 200_000, 1024);
    k.write_dev("o", Bytes(0), &fill(b'B', 65536)).unwrap();
    k.hold_merges(true);
    let (r, c) = (
        k.info("real").unwrap().unwrap().devnum,
        k.info("s-cow").unwrap().unwrap().devnum,
    );
    k.suspend("o", false).unwrap();
    k.remove("s").unwrap();
    k.load(
        "o",
        &[line(0, OLEN, "snapshot-merge", &format!("{r} {c} P 8"))],
        false,
    )
    .unwrap();
    k.resume("o", Visibility::Public).unwrap();
    let st = status(&k, "o");
    assert_ne!(st, "16/1024 16", "held merge still has chunks");
    k.run_merges().unwrap();
    assert_eq!(status(&k, "o"), "16/1024 16");
    assert_eq!(k.read_dev("o", Bytes(0), 65536).unwrap(), fill(b'A', 65536));
    // The other snapshot still shows the B... no: it was taken before B, so A.
    assert_eq!(k.read_dev("t", Bytes(0), 65536).unwrap(), fill(b'A', 65536));
}

#[test]
fn store_survives_reboot_and_save_load() {
    let (mut k, mut d) = setup();
    mk(&mut k, "real", &[line(0, OLEN, "linear", "8:0 2048")]);
    k.write_dev("real", Bytes(0), &fill(b'A', 4096)).unwrap();
    stack(&mut k, &mut d, "s", 100_000, 1024);
    k.write_dev("o", Bytes(0), &fill(b'B', 4096)).unwrap();
    let dir = std::env::temp_dir().join(format!("dmclass-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("w.json");
    save(&d, &file).unwrap();
    let (mut k, d2) = load(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(k.read_dev("s", Bytes(0), 4096).unwrap(), fill(b'A', 4096));
    k.reboot();
    let mut d2 = d2;
    mk(&mut k, "real", &[line(0, OLEN, "linear", "8:0 2048")]);
    let cow = mk(&mut k, "s-cow", &[line(0, 1024, "linear", "8:16 100000")]);
    let r = k.info("real").unwrap().unwrap().devnum;
    mk(
        &mut k,
        "s",
        &[line(0, OLEN, "snapshot", &format!("{r} {cow} P 8"))],
    );
    assert_eq!(k.read_dev("s", Bytes(0), 4096).unwrap(), fill(b'A', 4096));
    assert_eq!(status(&k, "s"), "24/1024 16");
    let _ = &mut d2;
}
