use super::*;
use crate::layout::{SliceState, VolumeLayout};
use crate::testutil::{ext, sample_class, uuid};

/// Disks d1..d4 = 8:16, 8:32, ...; dm devices 253:0, 253:1, ... in activation order.
fn resolver(specs: &[DeviceSpec]) -> MapResolver {
    let mut r = MapResolver::default();
    for i in 1..=4u32 {
        r.disks.insert(format!("d{i}"), format!("8:{}", 16 * i));
    }
    for (i, s) in specs.iter().enumerate() {
        r.dm.insert(s.name.clone(), format!("253:{i}"));
    }
    r
}

fn render_all(specs: &[DeviceSpec]) -> String {
    let r = resolver(specs);
    let mut out = String::new();
    for s in specs {
        out.push_str(&s.name);
        out.push_str(": ");
        out.push_str(&s.render(&r).unwrap());
    }
    out
}

fn vol() -> VolumeMeta {
    sample_class().volumes.remove(0)
}

#[test]
fn raid1_golden() {
    let specs = volume_devices("data", uuid(0xc1), &vol(), &Activation::default()).unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-v1_rmeta_0: 0 2048 linear 8:16 65536\n\
         dmclass-data-v1_rimage_0: 0 2097152 linear 8:16 67584\n\
         dmclass-data-v1_rmeta_1: 0 2048 linear 8:32 65536\n\
         dmclass-data-v1_rimage_1: 0 2097152 linear 8:32 67584\n\
         dmclass-data-v1: 0 2097152 raid raid1 3 0 region_size 128 2 253:0 253:1 253:2 253:3\n"
    );
    let top = specs.last().unwrap();
    assert!(!top.hidden && specs[..4].iter().all(|s| s.hidden));
    assert_eq!(top.children.len(), 4);
    assert_eq!(top.role, DeviceRole::Top);
    assert_eq!(specs[0].role, DeviceRole::RaidMeta);
    assert_eq!(
        specs[0].uuid,
        format!("DMCLASS-{}{}-rmeta_0", "c1".repeat(16), "a1".repeat(16))
    );
}

#[test]
fn raid1_copy_rate_golden() {
    let mut v = vol();
    v.copy_rate = Some(dmclass_model::Bytes(50 << 20));
    let act = Activation {
        nosync: true,
        rebuild: vec![1],
        missing: vec![],
        write_mostly: vec![],
    };
    let specs = volume_devices("data", uuid(0xc1), &v, &act).unwrap();
    let top = specs.last().unwrap().render(&resolver(&specs)).unwrap();
    assert_eq!(
        top,
        "0 2097152 raid raid1 8 0 nosync rebuild 1 max_recovery_rate 51200 region_size 128 \
         2 253:0 253:1 253:2 253:3\n"
    );
    // dm-mirror has no throttle: the rate never reaches a mirror table.
    v.engine = EngineMeta::Mirror;
    let specs = volume_devices("data", uuid(0xc1), &v, &Activation::default()).unwrap();
    let top = specs.last().unwrap().render(&resolver(&specs)).unwrap();
    assert!(!top.contains("recovery"), "{top}");
}

#[test]
fn raid1_missing_leg_nosync_and_rebuild() {
    let act = Activation {
        nosync: false,
        rebuild: vec![1],
        missing: vec![],
        write_mostly: vec![],
    };
    let specs = volume_devices("data", uuid(0xc1), &vol(), &act).unwrap();
    let top = specs.last().unwrap().render(&resolver(&specs)).unwrap();
    assert_eq!(
        top,
        "0 2097152 raid raid1 5 0 rebuild 1 region_size 128 2 253:0 253:1 253:2 253:3\n"
    );
    let act = Activation {
        nosync: true,
        rebuild: vec![],
        missing: vec![0],
        write_mostly: vec![],
    };
    let specs = volume_devices("data", uuid(0xc1), &vol(), &act).unwrap();
    assert_eq!(specs.len(), 3, "no sub-devices for the missing leg");
    let top = specs.last().unwrap().render(&resolver(&specs)).unwrap();
    assert_eq!(
        top,
        "0 2097152 raid raid1 4 0 nosync region_size 128 2 - - 253:0 253:1\n"
    );
}

/// A netmirror leg on the partner's disk is read only when the local one cannot serve:
/// `write_mostly N` in the kernel's order (after `max_recovery_rate`, before
/// `region_size`), never for a leg left out, and never for every present leg (the
/// kernel refuses "all raid1 devices write_mostly").
#[test]
fn raid1_write_mostly_in_the_kernels_order_and_never_for_every_present_leg() {
    let mut v = vol();
    v.copy_rate = Some(dmclass_model::Bytes(50 << 20));
    let top = |v: &VolumeMeta, act: &Activation| {
        let specs = volume_devices("data", uuid(0xc1), v, act).unwrap();
        specs.last().unwrap().render(&resolver(&specs)).unwrap()
    };
    let act = Activation {
        write_mostly: vec![1],
        ..Activation::default()
    };
    assert_eq!(
        top(&v, &act),
        "0 2097152 raid raid1 7 0 max_recovery_rate 51200 write_mostly 1 region_size 128 \
         2 253:0 253:1 253:2 253:3\n"
    );
    // The remote leg missing: nothing to mark, the local leg alone is read.
    let act = Activation {
        write_mostly: vec![1],
        missing: vec![1],
        ..Activation::default()
    };
    assert!(!top(&v, &act).contains("write_mostly"), "{}", top(&v, &act));
    // The local leg missing: the remote one is the only leg left to read from.
    let act = Activation {
        write_mostly: vec![1],
        missing: vec![0],
        ..Activation::default()
    };
    assert!(!top(&v, &act).contains("write_mostly"), "{}", top(&v, &act));
    // Both legs named: none is marked.
    let act = Activation {
        write_mostly: vec![0, 1, 1],
        ..Activation::default()
    };
    assert!(!top(&v, &act).contains("write_mostly"), "{}", top(&v, &act));
}

#[test]
fn dm_mirror_golden_disk_and_core_log() {
    let mut v = vol();
    v.engine = EngineMeta::Mirror;
    v.region = Sectors(1024);
    for l in &mut v.layout.legs {
        l.rmeta = None;
    }
    v.layout.log = Some(ext("d1", 63488, 2048));
    let specs = volume_devices("data", uuid(0xc1), &v, &Activation::default()).unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-v1_mlog: 0 2048 linear 8:16 63488\n\
         dmclass-data-v1: 0 2097152 mirror disk 2 253:0 1024 2 8:16 67584 8:32 67584 1 handle_errors\n"
    );
    assert_eq!(specs[0].role, DeviceRole::MirrorLog);
    v.jrm = false;
    let act = Activation {
        nosync: true,
        ..Activation::default()
    };
    let specs = volume_devices("data", uuid(0xc1), &v, &act).unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-v1: 0 2097152 mirror core 2 1024 nosync 2 8:16 67584 8:32 67584 1 handle_errors\n"
    );
    let act = Activation {
        missing: vec![1],
        ..Activation::default()
    };
    assert!(matches!(
        volume_devices("data", uuid(0xc1), &v, &act),
        Err(EngineError::InvalidLayout(_))
    ));
}

#[test]
fn mirror_over_stripe_and_concat_golden() {
    let mut v = vol();
    v.name = "my-vol".into();
    v.size = Sectors(8192);
    v.layout = VolumeLayout {
        legs: vec![
            Leg {
                rmeta: Some(ext("d1", 65536, 2048)),
                segments: vec![
                    Segment::Linear {
                        extent: ext("d1", 67584, 4096),
                    },
                    Segment::Linear {
                        extent: ext("d2", 65536, 4096),
                    },
                ],
                state: SliceState::Active,
            },
            Leg {
                rmeta: Some(ext("d3", 65536, 2048)),
                segments: vec![Segment::Striped {
                    chunk: Sectors(128),
                    columns: vec![ext("d3", 67584, 4096), ext("d4", 65536, 4096)],
                }],
                state: SliceState::Active,
            },
        ],
        log: None,
    };
    let specs = volume_devices("data", uuid(0xc1), &v, &Activation::default()).unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-my--vol_rmeta_0: 0 2048 linear 8:16 65536\n\
         dmclass-data-my--vol_rimage_0: 0 4096 linear 8:16 67584\n4096 4096 linear 8:32 65536\n\
         dmclass-data-my--vol_rmeta_1: 0 2048 linear 8:48 65536\n\
         dmclass-data-my--vol_rimage_1: 0 8192 striped 2 128 8:48 67584 8:64 65536\n\
         dmclass-data-my--vol: 0 8192 raid raid1 3 0 region_size 128 2 253:0 253:1 253:2 253:3\n"
    );
    // dm-mirror needs image devices for multi-extent legs.
    v.engine = EngineMeta::Mirror;
    v.jrm = false;
    let specs = volume_devices("data", uuid(0xc1), &v, &Activation::default()).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dmclass-data-my--vol_mimage_0",
            "dmclass-data-my--vol_mimage_1",
            "dmclass-data-my--vol"
        ]
    );
    assert_eq!(
        specs[2].render(&resolver(&specs)).unwrap(),
        "0 8192 mirror core 1 128 2 253:0 0 253:1 0 1 handle_errors\n"
    );
}

#[test]
fn single_leg_volumes_map_directly_and_ro_is_flagged() {
    let mut v = vol();
    v.layout.legs.truncate(1);
    v.layout.legs[0].rmeta = None;
    v.mode = ModeMeta::Ro;
    let specs = volume_devices("data", uuid(0xc1), &v, &Activation::default()).unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-v1: 0 2097152 linear 8:16 67584\n"
    );
    assert!(specs[0].read_only && specs[0].children.is_empty());
}

#[test]
fn unequal_legs_and_unresolved_devices_are_errors() {
    let mut v = vol();
    if let Segment::Linear { extent } = &mut v.layout.legs[1].segments[0] {
        extent.len = Sectors(4096);
    }
    assert!(matches!(
        volume_devices("data", uuid(0xc1), &v, &Activation::default()),
        Err(EngineError::InvalidLayout(_))
    ));
    let specs = volume_devices("data", uuid(0xc1), &vol(), &Activation::default()).unwrap();
    let err = specs[0].render(&MapResolver::default()).unwrap_err();
    assert_eq!(err, EngineError::Unresolved("Disk(\"d1\")".into()));
}

/// What the builders make prints as text that parses back to the same lines (the
/// devices resolved as the text resolves them).
#[test]
fn built_lines_parse_back_to_themselves() {
    let mut v = vol();
    v.copy_rate = Some(dmclass_model::Bytes(50 << 20));
    let act = Activation {
        nosync: true,
        rebuild: vec![1],
        missing: vec![],
        write_mostly: vec![0],
    };
    let mut m = vol();
    m.engine = EngineMeta::Mirror;
    m.layout.log = Some(ext("d1", 63488, 2048));
    for (v, act) in [(v, act), (m, Activation::default())] {
        let specs = volume_devices("data", uuid(0xc1), &v, &act).unwrap();
        let r = resolver(&specs);
        for s in &specs {
            let text = s.render(&r).unwrap();
            let parsed: crate::dm::Table<crate::io::DevNum> = text.parse().unwrap();
            let mut num = |d: &DevRef| {
                r.resolve(d)
                    .ok_or(())
                    .and_then(|n| n.parse::<crate::io::DevNum>().map_err(|_| ()))
            };
            let built: Vec<_> = s
                .table
                .iter()
                .map(|l| l.try_map(&mut num).unwrap())
                .collect();
            assert_eq!(parsed.lines, built, "{text}");
        }
    }
}
