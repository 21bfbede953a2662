#![allow(clippy::many_single_char_names)]

use super::*;
use crate::metadata::{ClassMeta, GroupMeta};
use crate::testutil::{disk, ext, sample_class};

const MIB: u64 = 2048;
const GIB: u64 = 1 << 21;
const START: u64 = 32 * MIB;

fn class() -> ClassMeta {
    let mut c = sample_class();
    c.volumes.clear();
    c.disks = (1..=4).map(|i| disk(&format!("d{i}"), i, 8)).collect();
    c.groups.push(GroupMeta {
        name: "s".into(),
        kind: GroupKindMeta::Stripe {
            chunk: Sectors(128),
        },
        members: vec!["d3".into(), "d4".into()],
    });
    c.groups.push(GroupMeta {
        name: "c".into(),
        kind: GroupKindMeta::Concat,
        members: vec!["d1".into(), "d2".into()],
    });
    c.groups.push(GroupMeta {
        name: "ms".into(),
        kind: GroupKindMeta::Mirror,
        members: vec!["c".into(), "s".into()],
    });
    c
}

fn lin_ext(l: &Leg, i: usize) -> &Extent {
    match &l.segments[i] {
        Segment::Linear { extent } => extent,
        s @ Segment::Striped { .. } => panic!("not linear: {s:?}"),
    }
}

#[test]
fn raid1_mirror_gets_rmeta_right_before_data_and_rounds_up() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "m", EngineMeta::Raid1, true).unwrap();
    let l = a.allocate("v", &t, Bytes(1_000_000)).unwrap();
    assert_eq!(l.len(), Sectors(MIB), "1,000,000 bytes round up to 1 MiB");
    assert_eq!(l.legs.len(), 2);
    for (leg, d) in l.legs.iter().zip(["d1", "d2"]) {
        assert_eq!(leg.rmeta, Some(ext(d, START, MIB)));
        assert_eq!(lin_ext(leg, 0), &ext(d, START + MIB, MIB));
    }
    assert_eq!(l.log, None);
    assert_eq!(a.free_on("d1"), Some(Sectors(8 * GIB - START - 2 * MIB)));
    // The next volume follows.
    let l2 = a.allocate("w", &t, Bytes(1 << 30)).unwrap();
    assert_eq!(l2.legs[0].rmeta, Some(ext("d1", START + 2 * MIB, MIB)));
    assert_eq!(lin_ext(&l2.legs[0], 0), &ext("d1", START + 3 * MIB, GIB));
}

#[test]
fn dm_mirror_with_jrm_gets_one_log_and_no_rmeta() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "m", EngineMeta::Mirror, true).unwrap();
    let l = a.allocate("v", &t, Bytes(4 << 20)).unwrap();
    assert_eq!(l.log, Some(ext("d1", START, MIB)));
    assert!(l.legs.iter().all(|g| g.rmeta.is_none()));
    let t = Target::resolve(&c, "m", EngineMeta::Mirror, false).unwrap();
    assert!(!t.log && !t.rmeta);
}

#[test]
fn no_room_says_what_is_free_and_changes_nothing() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let before = a.clone();
    let t = Target::resolve(&c, "m", EngineMeta::Raid1, true).unwrap();
    let err = a.allocate("big", &t, Bytes(9 << 30)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no room on m for volume big: needs 9216 MiB per leg + 1 MiB rmeta; \
         free: d1 8160 MiB, d2 8160 MiB"
    );
    assert_eq!(a, before);
}

#[test]
fn stripe_rounds_to_columns_and_splits_evenly() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "s", EngineMeta::Raid1, true).unwrap();
    assert!(!t.rmeta, "an unmirrored volume has no rmeta");
    let l = a.allocate("v", &t, Bytes(3 << 20)).unwrap();
    assert_eq!(l.len(), Sectors(4 * MIB), "2 columns x 1 MiB granularity");
    assert_eq!(
        l.legs[0].segments,
        vec![Segment::Striped {
            chunk: Sectors(128),
            columns: vec![ext("d3", START, 2 * MIB), ext("d4", START, 2 * MIB)],
        }]
    );
}

#[test]
fn concat_spills_to_the_next_disk_and_single_disk_works() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "c", EngineMeta::Raid1, true).unwrap();
    let l = a.allocate("v", &t, Bytes(10 << 30)).unwrap();
    let free1 = 8 * GIB - START;
    assert_eq!(
        l.legs[0].segments,
        vec![
            Segment::Linear {
                extent: ext("d1", START, free1)
            },
            Segment::Linear {
                extent: ext("d2", START, 10 * GIB - free1)
            },
        ]
    );
    let t = Target::resolve(&c, "d4", EngineMeta::Raid1, true).unwrap();
    let l = a.allocate("x", &t, Bytes(1 << 20)).unwrap();
    assert_eq!(l.legs.len(), 1);
    assert_eq!(lin_ext(&l.legs[0], 0), &ext("d4", START, MIB));
}

#[test]
fn mirror_of_concat_and_stripe_has_equal_legs() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "ms", EngineMeta::Raid1, true).unwrap();
    let l = a.allocate("v", &t, Bytes(5 << 20)).unwrap();
    assert_eq!(l.legs[0].len(), Sectors(6 * MIB));
    assert_eq!(l.legs[1].len(), Sectors(6 * MIB));
    // rmeta of the stripe leg sits on its first column, before the data.
    assert_eq!(l.legs[1].rmeta, Some(ext("d3", START, MIB)));
    assert_eq!(
        l.legs[1].segments[0].extents()[0],
        &ext("d3", START + MIB, 3 * MIB)
    );
    assert_eq!(
        l.legs[1].segments[0].extents()[1],
        &ext("d4", START, 3 * MIB)
    );
}

#[test]
fn grow_extends_in_place_or_adds_segments() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "m", EngineMeta::Raid1, true).unwrap();
    let v = a.allocate("v", &t, Bytes(1 << 30)).unwrap();
    let g = a.grow("v", &t, &v, Bytes(2 << 30)).unwrap();
    assert_eq!(lin_ext(&g.legs[0], 0), &ext("d1", START + MIB, 2 * GIB));
    // Block the space after v with w, then grow again: a second segment.
    let w = a.allocate("w", &t, Bytes(1 << 20)).unwrap();
    let g2 = a.grow("v", &t, &g, Bytes(3 << 30)).unwrap();
    assert_eq!(g2.len(), Sectors(3 * GIB));
    let w_end = w.legs[0].extents().last().unwrap().end().0;
    assert_eq!(g2.legs[0].segments.len(), 2);
    assert_eq!(lin_ext(&g2.legs[0], 1), &ext("d1", w_end, GIB));
    assert!(
        a.grow("v", &t, &g2, Bytes(1 << 30)).is_err(),
        "shrinking is refused"
    );
}

#[test]
fn grow_striped_in_place() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "s", EngineMeta::Raid1, true).unwrap();
    let v = a.allocate("v", &t, Bytes(4 << 20)).unwrap();
    let g = a.grow("v", &t, &v, Bytes(8 << 20)).unwrap();
    assert_eq!(g.legs[0].segments.len(), 1);
    assert_eq!(
        g.legs[0].segments[0].extents()[1],
        &ext("d4", START, 4 * MIB)
    );
}

#[test]
fn fragmented_disk_assembles_a_leg_from_holes() {
    let c = class();
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "d1", EngineMeta::Raid1, true).unwrap();
    let x = a.allocate("x", &t, Bytes(1 << 20)).unwrap();
    let _y = a.allocate("y", &t, Bytes(1 << 20)).unwrap();
    a.release(&x);
    let all_but = 8 * GIB - START - 2 * MIB;
    let z = a.allocate("z", &t, Bytes((all_but + MIB) * 512)).unwrap();
    assert_eq!(
        z.legs[0].segments,
        vec![
            Segment::Linear {
                extent: ext("d1", START, MIB)
            },
            Segment::Linear {
                extent: ext("d1", START + 2 * MIB, all_but)
            },
        ]
    );
    assert_eq!(a.free_on("d1"), Some(Sectors(0)));
}

#[test]
fn add_leg_copies_size_and_starts_in_copy_state() {
    let mut c = class();
    c.disks.push(disk("d5", 5, 8));
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "m", EngineMeta::Raid1, true).unwrap();
    let v = a.allocate("v", &t, Bytes(1 << 30)).unwrap();
    let v3 = a
        .add_leg("v", &v, &LegTarget::Disk("d5".into()), true)
        .unwrap();
    assert_eq!(v3.legs.len(), 3);
    assert_eq!(v3.legs[2].len(), Sectors(GIB));
    assert_eq!(v3.legs[2].state, SliceState::Copy);
    assert_eq!(v3.legs[2].rmeta, Some(ext("d5", START, MIB)));
    let odd = LegTarget::Stripe {
        disks: vec!["d3".into(), "d4".into(), "d5".into()],
        chunk: Sectors(128),
    };
    assert!(matches!(
        a.add_leg("v", &v, &odd, true),
        Err(EngineError::InvalidLayout(_))
    ));
}

#[test]
fn resolve_errors() {
    let mut c = class();
    assert_eq!(
        Target::resolve(&c, "nope", EngineMeta::Raid1, true).unwrap_err(),
        EngineError::UnknownTarget("nope".into())
    );
    c.groups[0].members.push("ghost".into());
    assert_eq!(
        Target::resolve(&c, "m", EngineMeta::Raid1, true).unwrap_err(),
        EngineError::UnknownDisk("ghost".into())
    );
    let t = Target::resolve(&c, "s", EngineMeta::Raid1, true).unwrap();
    assert!(matches!(
        t.round(Bytes(0)),
        Err(EngineError::InvalidSize { .. })
    ));
    let mut a = Allocator::for_class(&c).unwrap();
    assert!(matches!(
        a.allocate("huge", &t, Bytes(u64::MAX)),
        Err(EngineError::NoRoom { .. })
    ));
}

#[test]
fn existing_volumes_are_respected() {
    let c = sample_class(); // v1 occupies rmeta + 1 GiB on d1 and d2
    let mut a = Allocator::for_class(&c).unwrap();
    let t = Target::resolve(&c, "m", EngineMeta::Raid1, true).unwrap();
    let l = a.allocate("v2", &t, Bytes(1 << 20)).unwrap();
    assert_eq!(l.legs[0].rmeta, Some(ext("d1", START + MIB + GIB, MIB)));
}
