use super::*;
use crate::tables::MapResolver;
use crate::testutil::{raid_leg, sample_class, uuid};

fn render_all(specs: &[DeviceSpec]) -> String {
    let mut r = MapResolver::default();
    for i in 1..=4u32 {
        r.disks.insert(format!("d{i}"), format!("8:{}", 16 * i));
    }
    for (i, s) in specs.iter().enumerate() {
        r.dm.insert(s.name.clone(), format!("253:{i}"));
    }
    let mut out = String::new();
    for s in specs {
        out.push_str(&s.name);
        out.push_str(": ");
        out.push_str(&s.render(&r).unwrap());
    }
    out
}

fn store(name: &str, n: u8) -> VolumeMeta {
    let mut v = sample_class().volumes.remove(0);
    v.name = name.into();
    v.uuid = uuid(n);
    v.size = Sectors(8192);
    v.layout.legs = vec![
        raid_leg("d1", 5_000_000, 8192),
        raid_leg("d2", 5_000_000, 8192),
    ];
    v
}

fn snap(name: &str, n: u8, merging: bool) -> SnapDev {
    SnapDev {
        name: name.into(),
        uuid: uuid(n),
        chunk: Sectors(8),
        store: store(name, n),
        store_act: Activation::default(),
        merging,
    }
}

#[test]
fn origin_snapshot_golden() {
    let v = sample_class().volumes.remove(0);
    let specs = origin_stack(
        "data",
        uuid(0xc1),
        &v,
        &Activation::default(),
        &[snap("s1", 0xb1, false)],
    )
    .unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-v1_rmeta_0: 0 2048 linear 8:16 65536\n\
         dmclass-data-v1_rimage_0: 0 2097152 linear 8:16 67584\n\
         dmclass-data-v1_rmeta_1: 0 2048 linear 8:32 65536\n\
         dmclass-data-v1_rimage_1: 0 2097152 linear 8:32 67584\n\
         dmclass-data-v1-real: 0 2097152 raid raid1 3 0 region_size 128 2 253:0 253:1 253:2 253:3\n\
         dmclass-data-s1_rmeta_0: 0 2048 linear 8:16 5000000\n\
         dmclass-data-s1_rimage_0: 0 8192 linear 8:16 5002048\n\
         dmclass-data-s1_rmeta_1: 0 2048 linear 8:32 5000000\n\
         dmclass-data-s1_rimage_1: 0 8192 linear 8:32 5002048\n\
         dmclass-data-s1-cow: 0 8192 raid raid1 3 0 region_size 128 2 253:5 253:6 253:7 253:8\n\
         dmclass-data-s1: 0 2097152 snapshot 253:4 253:9 P 8\n\
         dmclass-data-v1: 0 2097152 snapshot-origin 253:4\n"
    );
    let by = |n: &str| specs.iter().find(|s| s.name == n).unwrap();
    assert!(by("dmclass-data-v1-real").hidden && by("dmclass-data-s1-cow").hidden);
    assert!(!by("dmclass-data-s1").hidden && !by("dmclass-data-v1").hidden);
    assert_eq!(by("dmclass-data-v1").role, DeviceRole::Top);
    assert_eq!(by("dmclass-data-s1").role, DeviceRole::Snapshot);
    assert_eq!(by("dmclass-data-s1-cow").role, DeviceRole::CowStore);
    assert_eq!(
        by("dmclass-data-v1-real").uuid,
        format!("DMCLASS-{}{}-real", "c1".repeat(16), "a1".repeat(16))
    );
    assert_eq!(
        by("dmclass-data-s1-cow").uuid,
        format!("DMCLASS-{}{}-cow", "c1".repeat(16), "b1".repeat(16))
    );
    assert_eq!(
        by("dmclass-data-s1").uuid,
        format!("DMCLASS-{}{}", "c1".repeat(16), "b1".repeat(16))
    );
}

#[test]
fn merge_golden_and_two_snapshots() {
    let mut v = sample_class().volumes.remove(0);
    v.layout.legs.truncate(1);
    v.layout.legs[0].rmeta = None;
    let mut s1 = snap("s1", 0xb1, true);
    s1.store.layout.legs.truncate(1);
    s1.store.layout.legs[0].rmeta = None;
    let mut s2 = snap("s2", 0xb2, false);
    s2.store.layout.legs.truncate(1);
    s2.store.layout.legs[0].rmeta = None;
    let specs = origin_stack("data", uuid(0xc1), &v, &Activation::default(), &[s1, s2]).unwrap();
    assert_eq!(
        render_all(&specs),
        "dmclass-data-v1-real: 0 2097152 linear 8:16 67584\n\
         dmclass-data-s1-cow: 0 8192 linear 8:16 5002048\n\
         dmclass-data-s2-cow: 0 8192 linear 8:16 5002048\n\
         dmclass-data-s2: 0 2097152 snapshot 253:0 253:2 P 8\n\
         dmclass-data-v1: 0 2097152 snapshot-merge 253:0 253:1 P 8\n"
    );
}

#[test]
fn no_snapshots_is_the_plain_volume() {
    let v = sample_class().volumes.remove(0);
    let act = Activation::default();
    assert_eq!(
        origin_stack("data", uuid(0xc1), &v, &act, &[]).unwrap(),
        volume_devices("data", uuid(0xc1), &v, &act).unwrap()
    );
}
