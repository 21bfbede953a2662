//! Every transition of the state machine, on hand-built class descriptions.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::layout::SliceState;
use crate::metadata::{DiskRoleMeta, DiskState};
use crate::testutil::{disk, sample_class, uuid};

fn leg(health: RaidHealth, attached: bool) -> LegLive {
    LegLive { health, attached }
}

fn live(h0: RaidHealth, h1: RaidHealth, attached1: bool) -> LiveClass {
    LiveClass {
        volumes: vec![VolumeLive {
            name: "v1".into(),
            active: true,
            legs: vec![leg(h0, true), leg(h1, attached1)],
            percent: 100.0,
        }],
    }
}

fn label(meta: &ClassMeta, n: u8, generation: u64) -> DiskLabel {
    DiskLabel {
        class_uuid: meta.uuid,
        class_name: meta.name.clone(),
        disk_uuid: uuid(n),
        generation,
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

use crate::metadata::ClassMeta;
use crate::status::RaidHealth;

/// `sample_class` after d2's leg failed (recorded at generation 1 → 2).
fn after_failure() -> ClassMeta {
    let m = sample_class();
    let r = on_dm_event(
        &m,
        &live(RaidHealth::InSync, RaidHealth::Dead, true),
        &Policy::default(),
    );
    assert_eq!(
        r,
        [Reaction::LegFailed {
            volume: "v1".into(),
            leg: 1,
            disks: names(&["d2"])
        }]
    );
    record(&m, &r)
}

#[test]
fn failed_leg_goes_invalid_and_departure_is_recorded() {
    let m = after_failure();
    assert_eq!(m.generation, 2);
    assert_eq!(m.volumes[0].layout.legs[1].state, SliceState::Invalid);
    assert_eq!(m.volumes[0].layout.legs[0].state, SliceState::Active);
    assert_eq!(m.departed.len(), 1);
    assert_eq!(m.departed[0].disk, "d2");
    assert_eq!(m.departed[0].generation, 1, "the generation d2 still holds");
    // The same event again changes nothing (INVALID + D is no transition).
    let again = on_dm_event(
        &m,
        &live(RaidHealth::InSync, RaidHealth::Dead, true),
        &Policy::default(),
    );
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(record(&m, &again), m);
}

#[test]
fn returning_disk_with_the_departure_generation_is_re_added() {
    let m = after_failure();
    let l = live(RaidHealth::InSync, RaidHealth::Dead, false);
    let r = on_disk_added(
        &m,
        &names(&["d1", "d2"]),
        &label(&m, 2, 1),
        &l,
        &Policy::default(),
    );
    assert_eq!(
        r,
        [Reaction::ReAdd {
            volume: "v1".into(),
            leg: 1,
            full: false
        }]
    );
    let m2 = record(&m, &r);
    // The kernel resyncs it from its own superblock and bitmap: a tracked member.
    assert_eq!(m2.volumes[0].layout.legs[1].state, SliceState::Active);
    assert!(m2.departed.is_empty(), "no INVALID slice left on d2");
    assert_eq!(m2.generation, 3);
    // Nothing more to record while it syncs nor when it is in sync.
    let syncing = LiveClass {
        volumes: vec![VolumeLive {
            percent: 40.0,
            ..live(RaidHealth::InSync, RaidHealth::Syncing, true).volumes[0].clone()
        }],
    };
    assert!(on_dm_event(&m2, &syncing, &Policy::default()).is_empty());
    assert!(on_dm_event(
        &m2,
        &live(RaidHealth::InSync, RaidHealth::InSync, true),
        &Policy::default(),
    )
    .is_empty());
}

#[test]
fn absent_leg_is_re_added_with_a_full_rebuild() {
    let m = sample_class();
    let r = on_disk_added(
        &m,
        &names(&["d1", "d2"]),
        &label(&m, 2, 1),
        &live(RaidHealth::InSync, RaidHealth::Absent, false),
        &Policy::default(),
    );
    assert_eq!(
        r,
        [Reaction::ReAdd {
            volume: "v1".into(),
            leg: 1,
            full: true
        }]
    );
}

#[test]
fn kernel_revived_leg_goes_copy() {
    let m = after_failure();
    let r = on_dm_event(
        &m,
        &live(RaidHealth::InSync, RaidHealth::Syncing, true),
        &Policy::default(),
    );
    assert_eq!(
        r,
        [Reaction::Copying {
            volume: "v1".into(),
            leg: 1
        }]
    );
}

#[test]
fn identity_failures_are_rejected_and_nothing_recorded() {
    let m = after_failure();
    let l = live(RaidHealth::InSync, RaidHealth::Dead, false);
    let p = Policy::default();
    let present = names(&["d1", "d2"]);
    let reason = |r: &[Reaction]| match r {
        [Reaction::Reject { reason, .. }] => reason.clone(),
        other => panic!("{other:?}"),
    };
    // Stale copy: an older generation than the one recorded at departure.
    let r = on_disk_added(&m, &present, &label(&m, 2, 0), &l, &p);
    assert!(reason(&r).contains("stale"), "{r:?}");
    assert_eq!(record(&m, &r), m, "a rejection records nothing");
    // Newer than the class: changed elsewhere.
    let r = on_disk_added(&m, &present, &label(&m, 2, 9), &l, &p);
    assert!(reason(&r).contains("newer"), "{r:?}");
    // Another class with the same name.
    let mut other = label(&m, 2, 1);
    other.class_uuid = uuid(0x77);
    let r = on_disk_added(&m, &present, &other, &l, &p);
    assert!(reason(&r).contains("same name"), "{r:?}");
    // A disk UUID the class does not list.
    let r = on_disk_added(&m, &present, &label(&m, 9, 1), &l, &p);
    assert!(reason(&r).contains("does not list"), "{r:?}");
    // A disk that never left but holds an old generation.
    let r = on_disk_added(&m, &present, &label(&m, 1, 1), &l, &p);
    assert!(reason(&r).contains("stale"), "{r:?}");
}

#[test]
fn change_event_of_an_attached_disk_does_nothing() {
    let m = sample_class();
    let r = on_disk_added(
        &m,
        &names(&["d1", "d2"]),
        &label(&m, 2, 1),
        &live(RaidHealth::InSync, RaidHealth::InSync, true),
        &Policy::default(),
    );
    assert!(matches!(r.as_slice(), [Reaction::Ignore { .. }]), "{r:?}");
}

#[test]
fn inactive_class_starts_when_complete_or_degraded_allowed() {
    let m = sample_class();
    let idle = LiveClass::default();
    let mut p = Policy::default();
    let r = on_disk_added(&m, &names(&["d1", "d2"]), &label(&m, 2, 1), &idle, &p);
    assert_eq!(r, [Reaction::Activate { degraded: false }]);
    let r = on_disk_added(&m, &names(&["d1"]), &label(&m, 1, 1), &idle, &p);
    assert!(
        matches!(&r[..], [Reaction::Ignore { reason }] if reason.contains("d2")),
        "{r:?}"
    );
    p.degraded = true;
    let r = on_disk_added(&m, &names(&["d1"]), &label(&m, 1, 1), &idle, &p);
    assert_eq!(r, [Reaction::Activate { degraded: true }]);
}

fn with_spares() -> ClassMeta {
    let mut m = sample_class();
    m.hot_spare = true;
    for (name, n) in [("s1", 3), ("s2", 4)] {
        let mut s = disk(name, n, 8);
        s.role = DiskRoleMeta::Spare;
        s.state = DiskState::Spare;
        m.disks.push(s);
    }
    m
}

#[test]
fn hot_spare_prefers_another_controller_and_takes_over() {
    let m = with_spares();
    let mut p = Policy::default();
    for (d, c) in [
        ("d1", "virtio"),
        ("d2", "pvscsi"),
        ("s1", "virtio"),
        ("s2", "ahci"),
    ] {
        p.controllers.insert(d.into(), c.into());
    }
    let r = on_dm_event(&m, &live(RaidHealth::InSync, RaidHealth::Dead, true), &p);
    assert_eq!(r.len(), 2, "{r:?}");
    let Reaction::TakeOver {
        spare,
        new_leg,
        leg,
        ..
    } = &r[1]
    else {
        panic!("{r:?}")
    };
    assert_eq!(
        (spare.as_str(), *leg),
        ("s2", 1),
        "d1's controller is avoided"
    );
    assert_eq!(new_leg.disks(), ["s2"]);
    assert_eq!(new_leg.len(), m.volumes[0].layout.legs[1].len());
    assert!(new_leg.rmeta.is_some());
    let m2 = record(&m, &r);
    assert_eq!(m2.volumes[0].layout.legs[1].state, SliceState::Copy);
    assert_eq!(m2.volumes[0].layout.legs[1].disks(), ["s2"]);
    assert_eq!(m2.disk("s2").unwrap().state, DiskState::Enable);
    assert_eq!(m2.disk("s1").unwrap().state, DiskState::Spare);
    let dep = &m2.departed[0];
    assert_eq!(dep.disk, "d2");
    assert_eq!(dep.takeovers.len(), 1);
    assert_eq!(dep.takeovers[0].original.disks(), ["d2"]);
    // Same controller only: still taken (fallback).
    p.controllers.insert("s2".into(), "virtio".into());
    let r = on_dm_event(&m, &live(RaidHealth::InSync, RaidHealth::Dead, true), &p);
    assert!(matches!(&r[1], Reaction::TakeOver { spare, .. } if spare == "s1"));
}

#[test]
fn no_spare_when_too_small_or_when_the_failed_leg_was_a_spare() {
    let mut m = with_spares();
    for d in &mut m.disks {
        if d.role == DiskRoleMeta::Spare {
            d.size = dmclass_model::Sectors(100 * 2048); // 100 MiB < 1 GiB leg
        }
    }
    let r = on_dm_event(
        &m,
        &live(RaidHealth::InSync, RaidHealth::Dead, true),
        &Policy::default(),
    );
    assert!(
        matches!(&r[1], Reaction::NoSpare { reason, .. } if reason.contains("big enough")),
        "{r:?}"
    );
    // The leg already on a spare fails: no chaining.
    let m = record(
        &with_spares(),
        &on_dm_event(
            &with_spares(),
            &live(RaidHealth::InSync, RaidHealth::Dead, true),
            &Policy::default(),
        ),
    );
    let r = on_dm_event(
        &m,
        &live(RaidHealth::InSync, RaidHealth::Dead, true),
        &Policy::default(),
    );
    assert!(
        matches!(&r[1], Reaction::NoSpare { reason, .. } if reason.contains("chained")),
        "{r:?}"
    );
}

#[test]
fn returning_disk_after_takeover_swaps_back_and_releases_the_spare_when_synced() {
    let m0 = with_spares();
    let fail = on_dm_event(
        &m0,
        &live(RaidHealth::InSync, RaidHealth::Dead, true),
        &Policy::default(),
    );
    let m1 = record(&m0, &fail);
    let spare = m1.volumes[0].layout.legs[1].disks()[0].to_owned();
    // The spare finished its rebuild.
    let synced = on_dm_event(
        &m1,
        &live(RaidHealth::InSync, RaidHealth::InSync, true),
        &Policy::default(),
    );
    let m2 = record(&m1, &synced);
    assert_eq!(m2.volumes[0].layout.legs[1].state, SliceState::Active);
    assert_eq!(m2.departed[0].takeovers.len(), 1, "still standing in");
    // d2 returns with the generation it left at.
    let r = on_disk_added(
        &m2,
        &names(&["d1", "d2", "s1", "s2"]),
        &label(&m2, 2, m0.generation),
        &live(RaidHealth::InSync, RaidHealth::InSync, true),
        &Policy::default(),
    );
    assert_eq!(
        r,
        [Reaction::SwapBack {
            volume: "v1".into(),
            leg: 1,
            spare: spare.clone()
        }]
    );
    let m3 = record(&m2, &r);
    assert_eq!(m3.volumes[0].layout.legs[1].disks(), ["d2"]);
    assert_eq!(m3.volumes[0].layout.legs[1].state, SliceState::Copy);
    assert_eq!(
        m3.disk(&spare).unwrap().state,
        DiskState::Enable,
        "not released before the original is in sync"
    );
    let done = on_dm_event(
        &m3,
        &live(RaidHealth::InSync, RaidHealth::InSync, true),
        &Policy::default(),
    );
    let m4 = record(&m3, &done);
    assert_eq!(m4.volumes[0].layout.legs[1].state, SliceState::Active);
    assert_eq!(m4.disk(&spare).unwrap().state, DiskState::Spare);
    assert!(m4.departed.is_empty());
}

#[test]
fn udev_probe_prints_the_header_fields_and_nothing_for_garbage() {
    use crate::metadata::{encode_header, AreaHeader};
    let h = AreaHeader {
        class_uuid: uuid(0xc1),
        disk_uuid: uuid(2),
        disk_size: dmclass_model::Sectors(1 << 21),
        class_name: "data".into(),
    };
    let mut area = vec![0u8; 3 * 4096];
    area[4096..8192].copy_from_slice(&encode_header(&h, 0));
    area[8192..].copy_from_slice(&encode_header(&h, 1));
    let out = udev_probe(&area).unwrap();
    assert_eq!(
        out,
        format!(
            "DMCLASS_CLASS=data\nDMCLASS_CLASS_UUID={}\nDMCLASS_DISK_UUID={}\n",
            uuid(0xc1),
            uuid(2)
        )
    );
    // Only copy B valid (A torn): still found; from the 8 KiB header window too.
    area[4096 + 100] ^= 0xff;
    assert_eq!(udev_probe(&area).as_deref(), Some(out.as_str()));
    assert_eq!(udev_probe(&area[4096..]).as_deref(), Some(out.as_str()));
    area[8192 + 100] ^= 0xff;
    assert_eq!(udev_probe(&area), None);
    assert_eq!(udev_probe(&[]), None);
    // A name udev cannot carry safely is left out.
    let mut odd = h.clone();
    odd.class_name = "a b".into();
    let mut area = vec![0u8; 2 * 4096];
    area[..4096].copy_from_slice(&encode_header(&odd, 0));
    assert!(!udev_probe(&area).unwrap().contains("DMCLASS_CLASS="));
}

#[test]
fn a_leg_failing_on_an_attached_disk_is_revived_only_when_the_disk_reappears() {
    let m = after_failure();
    // The disk never left (I/O errors): a udev `change` (watch after a write) must not
    // revive it, or a failing disk would flap in and out of the mirror.
    let attached = live(RaidHealth::InSync, RaidHealth::Dead, true);
    let label = label(&m, 2, 1);
    let r = on_disk_added(
        &m,
        &names(&["d1", "d2"]),
        &label,
        &attached,
        &Policy::default(),
    );
    assert!(
        r.iter().all(|x| matches!(x, Reaction::Ignore { .. })),
        "{r:?}"
    );
    // Replugged (udev `add`): the admin's replacement or a returning disk is re-added.
    let replugged = Policy {
        reappeared: true,
        ..Policy::default()
    };
    let r = on_disk_added(&m, &names(&["d1", "d2"]), &label, &attached, &replugged);
    assert!(
        r.iter()
            .any(|x| matches!(x, Reaction::ReAdd { leg: 1, .. })),
        "{r:?}"
    );
}
