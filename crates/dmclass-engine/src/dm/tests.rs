use super::*;
use dmclass_model::Sectors;

fn num(major: u32, minor: u32) -> DevNum {
    DevNum { major, minor }
}

/// `text` parses as a `target` line, prints back as `text`, and the printed form
/// parses to the same struct.
fn round_trip<D>(target: &str, text: &str) -> Target<D>
where
    D: FromStr + Display + PartialEq + std::fmt::Debug,
{
    let t: Target<D> = Target::parse(target, text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(t.name(), target);
    assert_eq!(t.to_string(), text);
    assert_eq!(Target::parse(target, &t.to_string()).as_ref(), Ok(&t));
    let line = format!("0 2048 {target} {text}");
    let l: TableLine<D> = line.parse().unwrap();
    assert_eq!(l.to_string(), line.trim_end());
    t
}

#[test]
fn linear_and_striped_round_trip() {
    let t = round_trip::<DevNum>("linear", "8:16 67584");
    assert_eq!(
        t,
        Target::Linear(DevOffset {
            dev: num(8, 16),
            offset: Sectors(67584),
        })
    );
    let t = round_trip::<DevNum>("striped", "2 128 8:48 67584 8:64 65536");
    let Target::Striped(s) = t else {
        panic!("{t:?}")
    };
    assert_eq!(s.chunk, Sectors(128));
    assert_eq!(s.stripes[1].dev, num(8, 64));
    assert_eq!(
        "8:1 9".parse::<DevOffset<DevNum>>().unwrap().offset,
        Sectors(9)
    );
    assert_eq!(
        "2 128 8:48 67584".parse::<Striped<DevNum>>(),
        Err(ParseError::Missing { what: "device" })
    );
}

#[test]
fn raid_round_trips_with_options_and_absent_legs() {
    for text in [
        "raid1 3 0 region_size 128 2 253:0 253:1 253:2 253:3",
        "raid1 8 0 nosync rebuild 1 max_recovery_rate 51200 region_size 128 2 - 8:1 8:2 8:3",
        // dm-raid 1.9.0-1.10.x order, as read back.
        "raid1 6 0 nosync region_size 128 max_recovery_rate 51200 2 - 8:1 8:2 8:3",
        "raid1 4 0 nosync region_size 128 2 - - 253:0 253:1",
        "raid1 12 0 sync daemon_sleep 50 min_recovery_rate 1 write_mostly 1 \
         max_write_behind 256 region_size 1024 2 8:0 8:1 8:2 8:3",
        "raid1 5 0 data_offset 0 delta_disks -1 2 8:0 8:1 8:2 8:3",
    ] {
        round_trip::<DevNum>("raid", text);
    }
    let r: Raid<DevNum> = "raid1 5 0 rebuild 1 region_size 128 2 - - 8:2 8:3"
        .parse()
        .unwrap();
    assert_eq!(r.level, RaidLevel::Raid1);
    assert_eq!(
        r.opts,
        [RaidOpt::Rebuild(1), RaidOpt::RegionSize(Sectors(128))]
    );
    assert_eq!(
        r.devs[0],
        RaidDev {
            meta: None,
            data: None
        }
    );
    assert_eq!(r.devs[1].data, Some(num(8, 3)));
}

#[test]
fn raid_read_back_ignores_rebuild_and_option_order() {
    let p = |s: &str| s.parse::<Raid<DevNum>>().unwrap();
    let loaded =
        p("raid1 8 0 nosync rebuild 1 max_recovery_rate 51200 region_size 128 2 - 8:1 8:2 8:3");
    // 1.9.0-1.10.x order, rebuild already finished.
    let kernel = p("raid1 6 0 nosync region_size 128 max_recovery_rate 51200 2 - 8:1 8:2 8:3");
    assert!(raid::readback_matches(&loaded, &kernel));
    assert!(raid::readback_matches(&loaded, &loaded));
    for other in [
        "raid1 6 0 nosync region_size 128 max_recovery_rate 51201 2 - 8:1 8:2 8:3",
        "raid1 4 0 nosync region_size 128 2 - 8:1 8:2 8:3",
        "raid1 6 0 nosync region_size 128 max_recovery_rate 51200 2 8:0 8:1 8:2 8:3",
        "raid1 8 8 nosync rebuild 1 max_recovery_rate 51200 region_size 128 2 - 8:1 8:2 8:3",
        "raid1 7 0 nosync nosync max_recovery_rate 51200 region_size 128 2 - 8:1 8:2 8:3",
    ] {
        assert!(!raid::readback_matches(&loaded, &p(other)), "{other}");
    }
    // Only raid lines get the rule; elsewhere the read-back must be equal.
    let line = |s: &str| s.parse::<TableLine<DevNum>>().unwrap();
    let l = line("0 64 raid raid1 5 0 rebuild 1 region_size 8 2 8:0 8:1 8:2 8:3");
    assert!(l.readback_matches(&line("0 64 raid raid1 3 0 region_size 8 2 8:0 8:1 8:2 8:3")));
    assert!(!l.readback_matches(&line("8 64 raid raid1 3 0 region_size 8 2 8:0 8:1 8:2 8:3")));
    assert!(!line("0 8 linear 8:0 0").readback_matches(&line("0 8 linear 8:0 8")));
}

#[test]
fn mirror_round_trips_both_logs() {
    for text in [
        "disk 2 253:0 1024 2 8:16 67584 8:32 67584 1 handle_errors",
        "core 2 1024 nosync 2 8:16 67584 8:32 67584 1 handle_errors",
        "core 1 128 2 253:0 0 253:1 0 1 handle_errors",
        "disk 3 253:0 128 sync 2 8:0 0 8:1 0 2 handle_errors keep_log",
        "core 1 128 2 8:0 0 8:1 0",
    ] {
        round_trip::<DevNum>("mirror", text);
    }
    let m: Mirror<DevNum> = "disk 3 253:0 128 nosync 2 8:0 0 8:1 0 1 handle_errors"
        .parse()
        .unwrap();
    assert_eq!(m.log, MirrorLog::Disk(num(253, 0)));
    assert_eq!(m.sync, Some(LogSync::Nosync));
    assert_eq!(m.features, [MirrorFeature::HandleErrors]);
}

#[test]
fn snapshots_round_trip() {
    round_trip::<DevNum>("snapshot", "253:4 253:9 P 8");
    round_trip::<DevNum>("snapshot-merge", "253:0 253:1 P 8");
    let t = round_trip::<DevNum>(
        "snapshot",
        "253:0 253:1 PO 16 2 discard_zeroes_cow discard_passdown_origin",
    );
    let Target::Snapshot(s) = t else {
        panic!("{t:?}")
    };
    assert_eq!(s.persistence, Persistence::PersistentOverflow);
    assert_eq!(s.features.len(), 2);
    assert_eq!(
        round_trip::<DevNum>("snapshot-origin", "253:4"),
        Target::SnapshotOrigin(num(253, 4))
    );
    assert_eq!(round_trip::<DevNum>("error", "8:0 0").name(), "error");
}

#[test]
fn targets_without_parameters() {
    for name in ["zero", "error"] {
        let l: TableLine<DevNum> = format!("0 8 {name}").parse().unwrap();
        assert_eq!(l.to_string(), format!("0 8 {name}"));
        assert!(!l.target.has_params());
        let mut out = String::new();
        let mut dev = |d: &DevNum, o: &mut dyn fmt::Write| write!(o, "{d}");
        l.write_with(&mut out, &mut dev).unwrap();
        assert_eq!(out, format!("0 8 {name} "), "dmsetup's trailing space");
    }
}

#[test]
fn plan_placeholders_round_trip() {
    let text = "raid1 3 0 region_size 128 2 <dmclass-store-big_rmeta_0> \
                <dmclass-store-big_rimage_0> - -";
    let t = round_trip::<Dev>("raid", text);
    let Target::Raid(r) = t else { panic!("{t:?}") };
    assert_eq!(
        r.devs[0].meta,
        Some(Dev::Placeholder("dmclass-store-big_rmeta_0".into()))
    );
    assert_eq!(
        round_trip::<Dev>("linear", "<a1> 2048"),
        Target::Linear(DevOffset {
            dev: Dev::Placeholder("a1".into()),
            offset: Sectors(2048)
        })
    );
    round_trip::<Dev>("linear", "8:16 2048");
    for bad in ["<>", "<a", "a>", "<a<b>", "8", "8:x", ":1", "-"] {
        assert!(bad.parse::<Dev>().is_err(), "{bad}");
    }
}

/// Every table of the CLI's golden `plan --tables` files parses and prints back
/// byte for byte.
#[test]
fn golden_plan_tables_round_trip() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../dmclass-cli/tests/golden");
    let mut lines = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.to_string_lossy().ends_with(".tables.txt") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The files also hold the plan's action list; table lines start with two
        // numbers.
        let is_table = |l: &&str| {
            let mut w = l.split(' ');
            w.next().is_some_and(|x| x.parse::<u64>().is_ok())
                && w.next().is_some_and(|x| x.parse::<u64>().is_ok())
        };
        for l in text.lines().filter(is_table) {
            let t: TableLine<Dev> = l.parse().unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(t.to_string(), l, "{}", path.display());
            lines += 1;
        }
    }
    assert!(lines > 40, "{lines} lines");
}

#[test]
fn whole_tables_round_trip() {
    let text = "0 4096 linear 8:16 67584\n4096 4096 linear 8:32 65536\n";
    let t: Table<DevNum> = text.parse().unwrap();
    assert_eq!(t.lines.len(), 2);
    assert_eq!(t.to_string(), text);
    let lines = t.to_target_lines();
    assert_eq!(lines[1].params, "8:32 65536");
    assert_eq!(Table::from_target_lines(&lines), Ok(t));
    assert!(matches!(
        "0 8 linear 8:0 0\n0 8 thin 8:0 0".parse::<Table<DevNum>>(),
        Err(ParseError::Line { line: 1, .. })
    ));
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    let long = "x".repeat(10_000);
    let cases: Vec<(&str, String)> = vec![
        ("linear", String::new()),
        ("linear", "8:0".into()),
        ("linear", "8:0 0 extra".into()),
        ("linear", "8:0 -1".into()),
        ("linear", format!("{long} 0")),
        ("striped", "18446744073709551615 8 8:0 0".into()),
        ("striped", "99999999999999999999 8".into()),
        ("raid", "raid5_ls 1 0 2 8:0 8:1 8:2 8:3".into()),
        ("raid", "raid1 0 2 8:0 8:1 8:2 8:3".into()),
        ("raid", "raid1 2 0 region_size 2 8:0 8:1 8:2 8:3".into()),
        ("raid", "raid1 3 0 stripe_cache 2 2 8:0 8:1 8:2 8:3".into()),
        ("raid", "raid1 3 0 rebuild x 2 8:0 8:1 8:2 8:3".into()),
        ("raid", "raid1 18446744073709551615 0".into()),
        ("raid", "raid1 1 0 18446744073709551615 - -".into()),
        ("raid", "raid1 1 0 2 - 8:1 8:2".into()),
        ("mirror", "core 3 8 2 8:0 0 8:1 0".into()),
        ("mirror", "clustered-core 1 8 2 8:0 0 8:1 0".into()),
        ("mirror", "core 2 8 maybe 2 8:0 0 8:1 0".into()),
        ("mirror", "core 1 8 2 8:0 0 8:1 0 1 frobnicate".into()),
        ("mirror", "core 1 8 2 8:0 0 8:1 0 5 handle_errors".into()),
        ("snapshot", "8:0 8:1 Q 8".into()),
        ("snapshot", "8:0 8:1 P".into()),
        ("snapshot-origin", "8:0 8:1".into()),
        ("zero", "1".into()),
        ("thin", "8:0 0".into()),
        ("", String::new()),
    ];
    for (target, params) in &cases {
        let e = Target::<DevNum>::parse(target, params).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }
    for line in ["", "0", "0 8", "x 8 zero", "0 y zero", "0 8 zero 1"] {
        assert!(line.parse::<TableLine<DevNum>>().is_err(), "{line:?}");
    }
}
