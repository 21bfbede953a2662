use super::*;

#[test]
fn raid_lines_of_every_version() {
    // lvm_dm.md doc example (pre-1.5 style, 4 fields after the type... plus action/mismatch).
    let s = parse_raid_status("raid4 5 AAAAA 2/490221568 init 0").unwrap();
    assert_eq!(s.health, vec![RaidHealth::InSync; 5]);
    assert_eq!(
        (s.sync_done, s.sync_total),
        (Sectors(2), Sectors(490_221_568))
    );
    assert_eq!((s.action, s.mismatches), (Some(SyncAction::Init), Some(0)));
    assert!(!s.in_sync());
    let s = parse_raid_status("raid1 2 AA 2097152/2097152 idle 0 0 -").unwrap();
    assert!(s.in_sync());
    assert_eq!(s.data_offset, Some(Sectors(0)));
    assert_eq!(s.journal, Some(JournalState::None));
    assert!((s.percent() - 100.0).abs() < f64::EPSILON);
    let s = parse_raid_status("raid1 4 ADAD 1024/2048 recover 0 0").unwrap();
    assert_eq!(s.health[1], RaidHealth::Dead);
    assert_eq!(s.journal, None);
    assert!((s.percent() - 50.0).abs() < f64::EPSILON);
    let s = parse_raid_status("raid1 3 aa- 0/2097152").unwrap();
    assert_eq!(
        s.health,
        vec![RaidHealth::Syncing, RaidHealth::Syncing, RaidHealth::Absent]
    );
    assert_eq!(s.action, None);
    let s = parse_raid_status("raid1 2 AA 0/2097152 idle 0 0 -").unwrap();
    assert!(!s.in_sync(), "LVM's transient 0/N idle is not in sync");
}

#[test]
fn bad_raid_lines_are_errors() {
    for bad in [
        "",
        "raid1",
        "raid1 2 AA 5/10 idle",
        "raid1 3 AA 5/10 idle 0",
        "raid1 2 AX 5/10 idle 0",
        "raid1 2 AA 510 idle 0",
        "raid1 2 AA 5/x idle 0",
        "raid1 2 AA 5/10 dancing 0",
        "raid1 2 AA 5/10 idle 0 0 Q",
        "raid1 99999999999999999999 AA 5/10",
    ] {
        assert!(parse_raid_status(bad).is_err(), "{bad:?}");
    }
    let e = parse_raid_status("raid1 2 AX 1/2").unwrap_err();
    assert_eq!(
        e.to_string(),
        "raid status \"raid1 2 AX 1/2\": unknown health char 'X'"
    );
}

#[test]
fn mirror_lines() {
    let s = parse_mirror_status("2 253:1 253:2 1024/1024 1 AA 3 disk 253:0 A").unwrap();
    assert_eq!(s.legs, ["253:1", "253:2"]);
    assert_eq!((s.in_sync, s.total), (1024, 1024));
    assert_eq!(
        s.log,
        MirrorLog::Disk {
            dev: "253:0".into(),
            health: MirrorHealth::Alive
        }
    );
    let s = parse_mirror_status("3 8:16 8:32 8:48 10/400 1 ADR 1 core").unwrap();
    assert_eq!(
        s.health,
        [
            MirrorHealth::Alive,
            MirrorHealth::WriteFailed,
            MirrorHealth::ReadFailed
        ]
    );
    assert_eq!(s.log, MirrorLog::Core);
    for bad in [
        "",
        "2 253:1 253:2 1024/1024 1 A 1 core",
        "2 253:1 253:2 1024/1024 2 AA 1 core",
        "2 253:1 253:2 1024/1024 1 AA 3 disk 253:0 AA",
        "2 253:1 253:2 1024/1024 1 AA 1 core extra",
        "18446744073709551615 a",
        "2 253:1",
    ] {
        assert!(parse_mirror_status(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn status_parsers_are_total_on_junk() {
    let alphabet = [
        "raid1",
        "2",
        "AA",
        "a",
        "D",
        "-",
        "1/2",
        "/",
        "idle",
        "core",
        "disk",
        "1",
        "3",
        "é",
        "",
        "18446744073709551616",
    ];
    let mut x = 0x1234_5678_u64;
    for _ in 0..20_000 {
        let mut line = String::new();
        for _ in 0..(x % 12) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            line.push_str(alphabet[usize::try_from(x % alphabet.len() as u64).unwrap()]);
            line.push(if x.is_multiple_of(5) { '\t' } else { ' ' });
        }
        let _ = parse_raid_status(&line);
        let _ = parse_mirror_status(&line);
        x = x.wrapping_add(1);
    }
}
