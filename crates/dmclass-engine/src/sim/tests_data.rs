//! The data path: bytes written through dm devices land where the tables say.
#![allow(clippy::unwrap_used)]

use super::tests::{line, mk, raid1, setup, LEN};
use super::*;
use crate::io::{Disks, IoResult, Kernel};
use crate::status::{parse_raid_status, RaidHealth};
use std::path::Path;

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            seed.wrapping_add(u8::try_from(i / 512 % 256).unwrap())
                .wrapping_mul(31)
        })
        .collect()
}

const VDA: &str = "/dev/vda";
const VDB: &str = "/dev/vdb";

fn disk_at(d: &SimDisks, disk: &str, sector: u64, len: usize) -> Vec<u8> {
    d.read(Path::new(disk), Bytes(sector * 512), len).unwrap()
}

#[test]
fn raid1_writes_land_on_both_legs() {
    let (mut k, d) = setup();
    let top = raid1(&mut k);
    let data = pattern(1, 64 * 1024);
    k.write_dev(top, Bytes(10 * 512), &data).unwrap();
    // rimage starts at sector 4096 of each disk.
    assert_eq!(disk_at(&d, VDA, 4096 + 10, data.len()), data);
    assert_eq!(disk_at(&d, VDB, 4096 + 10, data.len()), data);
    assert_eq!(k.read_dev(top, Bytes(10 * 512), data.len()).unwrap(), data);
    assert_eq!(disk_at(&d, VDA, 4096, 512), vec![0; 512]);
    // The same bytes through the /dev/mapper path of the Disks trait.
    let p = Path::new("/dev/mapper/r");
    assert_eq!(d.read(p, Bytes(10 * 512), data.len()).unwrap(), data);
    assert_eq!(d.size(p).unwrap(), Bytes(LEN * 512));
    assert_eq!(d.devnum(p).unwrap(), k.info(top).unwrap().unwrap().devnum);
    assert_eq!(errno(k.write_dev(top, Bytes(LEN * 512), &[0; 512])), EIO);
    assert_eq!(errno(k.write_dev(top, Bytes(3), &[0; 512])), EINVAL);
}

fn errno<T: std::fmt::Debug>(r: IoResult<T>) -> i32 {
    r.unwrap_err().errno.unwrap()
}

#[test]
fn striped_is_chunked_round_robin() {
    let (mut k, d) = setup();
    mk(
        &mut k,
        "s",
        &[line(0, 64, "striped", "2 8 8:0 100 8:16 200")],
    );
    let data = pattern(3, 64 * 512);
    k.write_dev("s", Bytes(0), &data).unwrap();
    let chunk = 8 * 512;
    for c in 0..8usize {
        let (disk, base) = if c % 2 == 0 { (VDA, 100) } else { (VDB, 200) };
        let row = (c / 2) as u64;
        let got = disk_at(&d, disk, base + row * 8, chunk);
        assert_eq!(got, data[c * chunk..(c + 1) * chunk], "chunk {c}");
    }
    // A read spanning a chunk boundary.
    assert_eq!(
        k.read_dev("s", Bytes(4 * 512), 8 * 512).unwrap(),
        data[4 * 512..12 * 512]
    );
}

#[test]
fn degraded_writes_resync_only_dirty_regions() {
    let (mut k, mut d) = setup();
    let top = raid1(&mut k);
    d.remove_disk(VDB).unwrap();
    let data = pattern(5, 4096);
    // Region size 1024 sectors: offsets in regions 0 and 10.
    k.write_dev(top, Bytes(0), &data).unwrap();
    k.write_dev(top, Bytes(10 * 1024 * 512 + 4096), &data)
        .unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.health, vec![RaidHealth::InSync, RaidHealth::Dead]);
    assert!(k.info(top).unwrap().unwrap().event_nr > 0);
    d.reattach(VDB).unwrap();
    // Still failed until a refresh (reload + resume), like dm-raid.
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.health[1], RaidHealth::Dead);
    d.reset_counters();
    let t = k.table(top).unwrap();
    k.suspend(top, false).unwrap();
    k.load(top, &t, false).unwrap();
    k.resume(top, Visibility::Public).unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.health, vec![RaidHealth::InSync; 2]);
    // Two regions of 512 KiB copied to vdb; on vda only its superblock (one sector,
    // the event count and vdb's failed bit cleared) and its bitmap (the bits
    // cleared), as the kernel writes at resume (vdb's bitmap never had bits set).
    let bitmap = 512;
    assert_eq!(d.bytes_written(VDB).unwrap(), Bytes(2 * 1024 * 512 + 512));
    assert_eq!(d.bytes_written(VDA).unwrap(), Bytes(512 + bitmap));
    assert_eq!(disk_at(&d, VDB, 4096 + 10 * 1024 + 8, 4096), data);
    // Now the first leg can fail and reads come from the second.
    d.set_failed(VDA, true).unwrap();
    assert_eq!(k.read_dev(top, Bytes(0), 4096).unwrap(), data);
}

#[test]
fn rebuild_copies_the_whole_leg_and_check_counts_mismatches() {
    let (mut k, mut d) = setup();
    let top = raid1(&mut k);
    let data = pattern(7, 8192);
    k.write_dev(top, Bytes(512), &data).unwrap();
    // Corrupt one sector of leg 1 behind the raid's back.
    d.write(Path::new(VDB), Bytes((4096 + 3) * 512), &[0xee; 512])
        .unwrap();
    k.message(top, "check").unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.mismatches, Some(1));
    k.message(top, "repair").unwrap();
    k.message(top, "check").unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.mismatches, Some(0));
    assert_eq!(errno(k.message(top, "bogus")), EINVAL);
    // Replace leg 1: blank rmeta and rebuild -> full copy of the image.
    d.zero(Path::new(VDB), Bytes(4096 * 512), Bytes(LEN * 512))
        .unwrap();
    d.zero(Path::new(VDB), Bytes(2048 * 512), Bytes(512))
        .unwrap();
    d.reset_counters();
    let p = k.table(top).unwrap()[0]
        .params
        .replace("raid1 3 0", "raid1 5 0 rebuild 1");
    k.load(top, &[line(0, LEN, "raid", &p)], false).unwrap();
    k.resume(top, Visibility::Public).unwrap();
    assert_eq!(d.bytes_written(VDB).unwrap(), Bytes(LEN * 512 + 512));
    assert_eq!(disk_at(&d, VDB, 4096 + 1, data.len()), data);
}

#[test]
fn mirror_writes_all_legs_at_their_offsets() {
    let (mut k, mut d) = setup();
    mk(
        &mut k,
        "m",
        &[line(
            0,
            LEN,
            "mirror",
            "core 2 1024 nosync 2 8:0 8192 8:16 16384 1 handle_errors",
        )],
    );
    let data = pattern(9, 2048);
    k.write_dev("m", Bytes(512), &data).unwrap();
    assert_eq!(disk_at(&d, VDA, 8193, data.len()), data);
    assert_eq!(disk_at(&d, VDB, 16385, data.len()), data);
    d.set_failed(VDA, true).unwrap();
    let data2 = pattern(11, 512);
    k.write_dev("m", Bytes(0), &data2).unwrap();
    assert_eq!(k.read_dev("m", Bytes(0), 512).unwrap(), data2);
}

#[test]
fn suspended_and_special_targets() {
    let (mut k, _d) = setup();
    let top = raid1(&mut k);
    k.suspend(top, true).unwrap();
    assert_eq!(errno(k.read_dev(top, Bytes(0), 512)), EAGAIN);
    k.resume(top, Visibility::Public).unwrap();
    mk(
        &mut k,
        "z",
        &[line(0, 8, "zero", ""), line(8, 8, "error", "")],
    );
    k.write_dev("z", Bytes(0), &[1; 512]).unwrap();
    assert_eq!(k.read_dev("z", Bytes(0), 512).unwrap(), vec![0; 512]);
    assert_eq!(errno(k.read_dev("z", Bytes(8 * 512), 512)), EIO);
    mk(&mut k, "snap", &[line(0, 64, "snapshot", "8:0 8:16 P 8")]);
    assert_eq!(k.status("snap").unwrap()[0].params, "16/16777216 16");
    // Snapshot I/O is simulated now (sim/snap.rs): an untouched chunk reads the origin.
    assert_eq!(k.read_dev("snap", Bytes(0), 512).unwrap(), vec![0; 512]);
    k.create("ro", "").unwrap();
    k.load("ro", &[line(0, 8, "linear", "8:0 0")], true)
        .unwrap();
    k.resume("ro", Visibility::Public).unwrap();
    assert_eq!(errno(k.write_dev("ro", Bytes(0), &[0; 512])), EROFS);
}
