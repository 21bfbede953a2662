//! Kernel semantics of the simulation: ioctls, validation, status, failpoints, disks.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::io::{Disks, IoResult, Kernel, TargetLine};
use crate::status::{
    parse_mirror_status, parse_raid_status, MirrorHealth, MirrorLog, RaidHealth, SyncAction,
};
use dmclass_model::Sectors;

pub(super) const GIB: u64 = 1 << 30;
/// Length of the test raid volume in sectors (32 MiB).
pub(super) const LEN: u64 = 65536;

pub(super) fn line(start: u64, len: u64, target: &str, params: &str) -> TargetLine {
    TargetLine {
        start: Sectors(start),
        len: Sectors(len),
        target: target.into(),
        params: params.into(),
    }
}

pub(super) fn dn(major: u32, minor: u32) -> DevNum {
    DevNum { major, minor }
}

/// Two 8 GiB disks: /dev/vda (8:0) and /dev/vdb (8:16).
pub(super) fn setup() -> (SimKernel, SimDisks) {
    let (k, mut d) = new_sim();
    d.add_disk("/dev/vda", dn(8, 0), Bytes(8 * GIB)).unwrap();
    d.add_disk("/dev/vdb", dn(8, 16), Bytes(8 * GIB)).unwrap();
    (k, d)
}

/// create + load + resume; returns the device number.
pub(super) fn mk(k: &mut SimKernel, name: &str, lines: &[TargetLine]) -> DevNum {
    let info = k.create(name, &format!("UUID-{name}")).unwrap();
    k.load(name, lines, false).unwrap();
    k.resume(name, Visibility::Private).unwrap();
    info.devnum
}

/// Per leg: rmeta at sector 2048 (1 MiB), rimage at sector 4096 (LEN); then `r`:
/// raid1 with 512 KiB regions. Returns the top device name.
pub(super) fn raid1(k: &mut SimKernel) -> &'static str {
    let mut devs = Vec::new();
    for (i, disk) in ["8:0", "8:16"].iter().enumerate() {
        let m = mk(
            k,
            &format!("r_rmeta_{i}"),
            &[line(0, 2048, "linear", &format!("{disk} 2048"))],
        );
        let d = mk(
            k,
            &format!("r_rimage_{i}"),
            &[line(0, LEN, "linear", &format!("{disk} 4096"))],
        );
        devs.push(format!("{m} {d}"));
    }
    let params = format!("raid1 3 0 region_size 1024 2 {}", devs.join(" "));
    mk(k, "r", &[line(0, LEN, "raid", &params)]);
    "r"
}

fn errno<T: std::fmt::Debug>(r: IoResult<T>) -> i32 {
    r.unwrap_err().errno.unwrap()
}

#[test]
fn create_load_resume_lifecycle() {
    let (mut k, _d) = setup();
    let info = k.create("a", "U-a").unwrap();
    assert_eq!(info.devnum, dn(253, 0));
    assert!(info.suspended && !info.live_table && !info.inactive_table);
    assert_eq!(errno(k.create("a", "U-b")), EEXIST);
    assert_eq!(errno(k.create("b", "U-a")), EBUSY);
    k.load("a", &[line(0, 100, "linear", "8:0    2048 ")], false)
        .unwrap();
    let i = k.info("a").unwrap().unwrap();
    assert!(i.inactive_table && !i.live_table);
    assert!(k.table("a").unwrap().is_empty());
    k.resume("a", Visibility::Public).unwrap();
    let i = k.info("a").unwrap().unwrap();
    assert!(!i.suspended && i.live_table && !i.inactive_table);
    assert_eq!(
        k.table("a").unwrap(),
        vec![line(0, 100, "linear", "8:0 2048")]
    );
    assert_eq!(k.status("a").unwrap()[0].params, "");
    assert_eq!(k.visibility("a"), Some(Visibility::Public));
    assert_eq!(k.create("b", "").unwrap().devnum, dn(253, 1));
    assert_eq!(k.list().unwrap().len(), 2);
    assert_eq!(k.info("zz").unwrap(), None);
    for r in [
        k.load("zz", &[line(0, 8, "zero", "")], false),
        k.resume("zz", Visibility::Public),
        k.suspend("zz", false),
        k.remove("zz"),
    ] {
        assert_eq!(errno(r), ENXIO);
    }
    assert_eq!(errno(k.table("zz")), ENXIO);
    k.remove("a").unwrap();
    assert_eq!(k.info("a").unwrap(), None);
}

#[test]
fn remove_is_refused_while_held() {
    let (mut k, _d) = setup();
    let top = raid1(&mut k);
    assert_eq!(k.info("r_rimage_0").unwrap().unwrap().open_count, 1);
    assert_eq!(errno(k.remove("r_rimage_0")), EBUSY);
    assert_eq!(errno(k.remove("r_rmeta_1")), EBUSY);
    k.set_open_count(top, 1).unwrap();
    assert_eq!(errno(k.remove(top)), EBUSY);
    k.set_open_count(top, 0).unwrap();
    k.remove(top).unwrap();
    k.remove("r_rimage_0").unwrap();
    // An inactive table holds its devices too.
    k.create("x", "").unwrap();
    k.load("x", &[line(0, 8, "linear", "253:0 0")], false)
        .unwrap();
    assert_eq!(errno(k.remove("r_rmeta_0")), EBUSY);
}

#[test]
fn bad_tables_are_rejected() {
    let (mut k, _d) = setup();
    raid1(&mut k);
    mk(&mut k, "tiny", &[line(0, 4, "zero", "")]);
    k.create("t", "").unwrap();
    let bad: Vec<(Vec<TargetLine>, i32)> = vec![
        (vec![], EINVAL),
        (vec![line(0, 8, "thin", "8:0 0")], EINVAL),
        (
            vec![line(0, 8, "linear", "8:0 0"), line(16, 8, "zero", "")],
            EINVAL,
        ),
        (vec![line(8, 8, "zero", "")], EINVAL),
        (vec![line(0, 8, "linear", "9:9 0")], ENXIO),
        (vec![line(0, 8, "linear", "8:0")], EINVAL),
        (vec![line(0, 8, "linear", "8:0 0 extra")], EINVAL),
        (
            vec![line(
                0,
                16,
                "linear",
                &format!("8:0 {}", 16 * GIB / 512 - 8),
            )],
            EINVAL,
        ),
        (vec![line(0, 16, "striped", "2 8 8:0 0")], EINVAL),
        (vec![line(0, 24, "striped", "2 8 8:0 0 8:16 0")], EINVAL),
        (vec![line(0, 64, "striped", "2 4 8:0 0 8:16 0")], EINVAL),
        // raid1: rmeta too small, meta without data, bad region, unknown flag.
        (
            vec![line(0, 64, "raid", "raid1 1 0 2 253:5 253:1 - 253:3")],
            EINVAL,
        ),
        (
            vec![line(0, 64, "raid", "raid1 1 0 2 253:0 - - 253:3")],
            EINVAL,
        ),
        (
            vec![line(
                0,
                64,
                "raid",
                "raid1 3 0 region_size 3 2 253:0 253:1 253:2 253:3",
            )],
            EINVAL,
        ),
        (
            vec![line(
                0,
                64,
                "raid",
                "raid1 2 0 stripe_cache 2 253:0 253:1 253:2 253:3",
            )],
            EINVAL,
        ),
        (
            vec![line(
                0,
                64,
                "raid",
                "raid5_ls 1 0 2 253:0 253:1 253:2 253:3",
            )],
            EINVAL,
        ),
        (vec![line(0, 64, "raid", "raid1 1 0 2 - - - -")], EINVAL),
        (vec![line(0, 64, "mirror", "core 1 8 1 8:0 0")], EINVAL),
        (
            vec![line(0, 64, "mirror", "core 1 7 2 8:0 0 8:16 0")],
            EINVAL,
        ),
        (
            vec![line(0, 64, "mirror", "core 1 8 2 8:0 0 8:16 0 1 keep_log")],
            EINVAL,
        ),
        (vec![line(0, 64, "snapshot", "8:0 8:16 X 8")], EINVAL),
    ];
    for (t, e) in bad {
        assert_eq!(errno(k.load("t", &t, false)), e, "{t:?}");
        assert!(!k.info("t").unwrap().unwrap().inactive_table);
    }
    // A device may not map onto itself (or onto something above it).
    let me = k.info("t").unwrap().unwrap().devnum;
    assert_eq!(
        errno(k.load("t", &[line(0, 8, "linear", &format!("{me} 0"))], false)),
        EINVAL
    );
    k.create("u", "").unwrap();
    k.load("u", &[line(0, 8, "linear", "253:4 0")], false)
        .unwrap();
    k.resume("u", Visibility::Private).unwrap();
    assert_eq!(
        errno(k.load("r_rimage_0", &[line(0, 8, "linear", "253:7 0")], false)),
        EINVAL
    );
    // A dm device without a live table has size 0.
    assert_eq!(
        errno(k.load("u", &[line(0, 8, "linear", &format!("{me} 0"))], false)),
        EINVAL
    );
    // Known good ones for contrast.
    for t in [
        vec![line(0, 64, "striped", "2 8 8:0 0 8:16 0")],
        vec![line(
            0,
            64,
            "mirror",
            "disk 2 253:0 8 2 8:0 0 8:16 0 1 handle_errors",
        )],
        vec![line(0, 8, "error", ""), line(8, 8, "zero", "")],
        vec![line(0, 64, "snapshot", "8:0 8:16 P 8")],
    ] {
        k.load("t", &t, false).unwrap();
    }
}

#[test]
fn raid_status_parses_and_follows_failures() {
    let (mut k, mut d) = setup();
    let top = raid1(&mut k);
    let st = k.status(top).unwrap();
    assert_eq!(st[0].params, format!("raid1 2 AA {LEN}/{LEN} idle 0 0 -"));
    let s = parse_raid_status(&st[0].params).unwrap();
    assert!(s.in_sync());
    k.set_sync(top, Sectors(2048), Sectors(LEN)).unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.health, vec![RaidHealth::Syncing; 2]);
    assert_eq!(s.action, Some(SyncAction::Resync));
    assert!(!s.in_sync());
    assert_eq!(errno(k.message(top, "check")), EBUSY);
    let ev = k.info(top).unwrap().unwrap().event_nr;
    k.set_sync(top, Sectors(LEN), Sectors(LEN)).unwrap();
    assert_eq!(k.info(top).unwrap().unwrap().event_nr, ev + 1);
    d.set_failed("/dev/vdb", true).unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.health, vec![RaidHealth::InSync, RaidHealth::Dead]);
    d.set_failed("/dev/vdb", false).unwrap();
    k.fail_leg(top, 0).unwrap();
    let s = parse_raid_status(&k.status(top).unwrap()[0].params).unwrap();
    assert_eq!(s.health, vec![RaidHealth::Dead, RaidHealth::InSync]);
    // A missing leg prints '-'.
    k.create("h", "").unwrap();
    k.load(
        "h",
        &[line(0, LEN, "raid", "raid1 1 0 2 - - 253:2 253:3")],
        false,
    )
    .unwrap();
    k.resume("h", Visibility::Public).unwrap();
    let s = parse_raid_status(&k.status("h").unwrap()[0].params).unwrap();
    assert_eq!(s.health, vec![RaidHealth::Absent, RaidHealth::InSync]);
}

#[test]
fn mirror_status_parses() {
    let (mut k, mut d) = setup();
    let log = mk(&mut k, "m_mlog", &[line(0, 8, "linear", "8:0 2048")]);
    let p = format!("disk 2 {log} 1024 2 8:0 4096 8:16 4096 1 handle_errors");
    mk(&mut k, "m", &[line(0, LEN, "mirror", &p)]);
    let s = parse_mirror_status(&k.status("m").unwrap()[0].params).unwrap();
    assert_eq!(s.legs, vec!["8:0", "8:16"]);
    assert_eq!((s.in_sync, s.total), (64, 64));
    assert_eq!(
        s.log,
        MirrorLog::Disk {
            dev: log.to_string(),
            health: MirrorHealth::Alive
        }
    );
    d.remove_disk("/dev/vdb").unwrap();
    let s = parse_mirror_status(&k.status("m").unwrap()[0].params).unwrap();
    assert_eq!(
        s.health,
        vec![MirrorHealth::Alive, MirrorHealth::WriteFailed]
    );
    mk(
        &mut k,
        "c",
        &[line(0, LEN, "mirror", "core 1 1024 2 8:0 4096 8:0 200000")],
    );
    let s = parse_mirror_status(&k.status("c").unwrap()[0].params).unwrap();
    assert_eq!(s.log, MirrorLog::Core);
}

#[test]
fn kernel_failpoints_are_one_shot_and_matched() {
    let (mut k, _d) = setup();
    k.fail_on("create", "dmclass-*-v1", EBUSY);
    k.fail_on_if("resume", |n| n.ends_with("_rmeta_0"), EINVAL);
    k.create("dmclass-data-v2", "").unwrap();
    assert_eq!(errno(k.create("dmclass-data-v1", "")), EBUSY);
    k.create("dmclass-data-v1", "").unwrap();
    k.create("x_rmeta_0", "").unwrap();
    assert_eq!(errno(k.resume("x_rmeta_0", Visibility::Private)), EINVAL);
    k.resume("x_rmeta_0", Visibility::Private).unwrap();
    k.fail_on("*", "*", EIO);
    assert_eq!(errno(k.settle()), EIO);
    k.settle().unwrap();
    assert_eq!(k.settle_count(), 1);
    k.fail_on("load", "*", EIO);
    k.clear_fail_on();
    k.load("x_rmeta_0", &[line(0, 8, "zero", "")], false)
        .unwrap();
    k.reboot();
    assert!(k.list().unwrap().is_empty());
}

#[test]
fn disks_are_sparse_aligned_and_bounded() {
    let (_k, mut d) = setup();
    let vda = std::path::Path::new("/dev/vda");
    assert_eq!(d.size(vda).unwrap(), Bytes(8 * GIB));
    assert_eq!(d.devnum(vda).unwrap(), dn(8, 0));
    d.write(vda, Bytes(8 * GIB - 512), &[7u8; 512]).unwrap();
    assert_eq!(d.pages_in_use(vda).unwrap(), 1);
    assert_eq!(
        d.read(vda, Bytes(8 * GIB - 1024), 1024).unwrap()[512..],
        [7u8; 512]
    );
    assert_eq!(errno(d.write(vda, Bytes(8 * GIB), &[0u8; 512])), EIO);
    assert_eq!(errno(d.write(vda, Bytes(100), &[0u8; 512])), EINVAL);
    assert_eq!(errno(d.read(vda, Bytes(0), 100)), EINVAL);
    assert_eq!(
        errno(d.read(std::path::Path::new("/dev/nope"), Bytes(0), 512)),
        ENOENT
    );
    d.zero(vda, Bytes(8 * GIB - 4096), Bytes(4096)).unwrap();
    assert_eq!(d.pages_in_use(vda).unwrap(), 0);
    assert_eq!(d.bytes_written(vda).unwrap(), Bytes(512 + 4096));
    assert_eq!(d.write_count(vda).unwrap(), 2);
    d.reset_counters();
    assert_eq!(d.bytes_written(vda).unwrap(), Bytes(0));
    d.remove_disk(vda).unwrap();
    assert_eq!(errno(d.read(vda, Bytes(0), 512)), ENOENT);
    d.reattach(vda).unwrap();
    assert_eq!(d.read(vda, Bytes(0), 512).unwrap(), vec![0u8; 512]);
    assert_eq!(errno(d.add_disk("/dev/vdc", dn(8, 0), Bytes(GIB))), EEXIST);
    assert_eq!(
        errno(d.add_disk("/dev/vdc", dn(8, 32), Bytes(1000))),
        EINVAL
    );
}

#[test]
fn write_failpoints_stop_after_n_writes() {
    let (_k, mut d) = setup();
    let vda = std::path::Path::new("/dev/vda");
    d.fail_after_writes(2);
    d.write(vda, Bytes(0), &[1u8; 512]).unwrap();
    d.write(vda, Bytes(512), &[2u8; 512]).unwrap();
    assert_eq!(errno(d.write(vda, Bytes(1024), &[3u8; 512])), EIO);
    assert_eq!(errno(d.write(vda, Bytes(1536), &[3u8; 512])), EIO);
    assert_eq!(d.read(vda, Bytes(1024), 512).unwrap(), vec![0u8; 512]);
    d.fail_writes_if(|p, off, _| p.ends_with("vdb") && off.0 >= 4096);
    d.write(vda, Bytes(8192), &[1u8; 512]).unwrap();
    let vdb = std::path::Path::new("/dev/vdb");
    d.write(vdb, Bytes(0), &[1u8; 512]).unwrap();
    assert_eq!(errno(d.write(vdb, Bytes(4096), &[1u8; 512])), EIO);
    d.clear_failpoint();
    d.write(vdb, Bytes(4096), &[1u8; 512]).unwrap();
}

#[test]
fn blank_rmeta_joining_an_existing_set_needs_rebuild() {
    let (mut k, mut d) = setup();
    let top = raid1(&mut k);
    let vda = std::path::Path::new("/dev/vda");
    // The first resume stamped both superblocks.
    assert_eq!(&d.read(vda, Bytes(2048 * 512), 512).unwrap()[..4], b"DmRd");
    k.suspend(top, false).unwrap();
    let table = k.table(top).unwrap();
    k.load(top, &table, false).unwrap();
    d.zero(
        std::path::Path::new("/dev/vdb"),
        Bytes(2048 * 512),
        Bytes(512),
    )
    .unwrap();
    let e = k.load(top, &table, false).unwrap_err();
    assert_eq!(e.errno, Some(EINVAL));
    assert!(e.message.contains("New device injected"), "{e}");
    let p = table[0].params.replace("raid1 3 0", "raid1 5 0 rebuild 1");
    k.load(top, &[line(0, LEN, "raid", &p)], false).unwrap();
}

#[test]
fn recovery_rates_are_accepted_and_checked_like_dm_raid() {
    let (mut k, _d) = setup();
    let top = raid1(&mut k);
    let table = k.table(top).unwrap();
    let with = |opts: &str, n: u32| {
        let p = table[0]
            .params
            .replace("raid1 3 0", &format!("raid1 {n} 0 {opts}"));
        vec![line(0, LEN, "raid", &p)]
    };
    k.suspend(top, false).unwrap();
    let ok = with("max_recovery_rate 51200", 5);
    k.load(top, &ok, false).unwrap();
    k.resume(top, Visibility::Private).unwrap();
    assert_eq!(k.table(top).unwrap(), ok, "the table reads back as loaded");
    for (opts, n, msg) in [
        (
            "min_recovery_rate 100 max_recovery_rate 10",
            7,
            "Bogus recovery rates",
        ),
        (
            "max_recovery_rate 1 max_recovery_rate 2",
            7,
            "Only one max_recovery_rate",
        ),
        (
            "max_recovery_rate 2147483648",
            5,
            "max_recovery_rate out of range",
        ),
        (
            "max_recovery_rate fast",
            5,
            "bad value for max_recovery_rate",
        ),
    ] {
        let e = k.load(top, &with(opts, n), false).unwrap_err();
        assert_eq!(e.errno, Some(EINVAL), "{opts}");
        assert!(e.message.contains(msg), "{opts}: {e}");
    }
    k.load(
        top,
        &with("min_recovery_rate 10 max_recovery_rate 10", 7),
        false,
    )
    .unwrap();
}

/// dm-raid 1.15.1 refuses a 2-slot raid1 whose only present leg has a blank rmeta and
/// whose other slot is `- -` (a blank leg "injected" into a set it cannot see is
/// new), even with `nosync`; the same set loads once its first activation had `zero`
/// devices in slot 1 (a new set: every slot blank), and then loads degraded.
#[test]
fn blank_rmeta_beside_an_absent_slot_is_refused_like_dm_raid() {
    let (mut k, _d) = setup();
    let m = mk(&mut k, "t_rmeta_0", &[line(0, 2048, "linear", "8:0 2048")]);
    let i = mk(&mut k, "t_rimage_0", &[line(0, LEN, "linear", "8:0 4096")]);
    let degraded = format!("raid1 3 0 region_size 1024 2 {m} {i} - -");
    k.create("t", "UUID-t").unwrap();
    for params in [
        degraded.clone(),
        degraded.replace("raid1 3 0", "raid1 4 0 nosync"),
    ] {
        let e = k
            .load("t", &[line(0, LEN, "raid", &params)], false)
            .unwrap_err();
        assert_eq!(e.errno, Some(EINVAL));
        assert!(e.message.contains("New device injected"), "{e}");
    }
    let zm = mk(&mut k, "t_rmeta_1", &[line(0, 2048, "zero", "")]);
    let zi = mk(&mut k, "t_rimage_1", &[line(0, LEN, "zero", "")]);
    let first = format!("raid1 4 0 nosync region_size 1024 2 {m} {i} {zm} {zi}");
    k.load("t", &[line(0, LEN, "raid", &first)], false).unwrap();
    k.resume("t", Visibility::Private).unwrap();
    k.suspend("t", false).unwrap();
    k.load("t", &[line(0, LEN, "raid", &degraded)], false)
        .unwrap();
    k.resume("t", Visibility::Private).unwrap();
    k.remove("t_rmeta_1").unwrap();
    k.remove("t_rimage_1").unwrap();
}
