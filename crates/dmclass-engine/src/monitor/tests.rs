//! Events derived from two snapshots, one test per kind plus the quiet cases.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::testutil::sample_class;

const T: &str = "2026-12-06T05:10:00Z";

fn disk(name: &str, role: DiskRoleMeta, state: DiskState) -> DiskView {
    DiskView {
        name: name.into(),
        id: format!("virtio-{name}"),
        role,
        state,
        reason: None,
    }
}

fn leg(disks: &[&str], state: SliceState) -> LegView {
    LegView {
        disks: disks.iter().map(|d| (*d).to_owned()).collect(),
        state,
        sync_percent: (state == SliceState::Copy).then_some(12.5),
    }
}

/// Class `data`: disks a, b (members) and s (spare); volume v1 mirrored on a and b.
fn class(legs: Vec<LegView>) -> ClassView {
    ClassView {
        uuid: "u1".into(),
        name: "data".into(),
        closed: false,
        closed_reason: None,
        disks: vec![
            disk("a", DiskRoleMeta::Member, DiskState::Enable),
            disk("b", DiskRoleMeta::Member, DiskState::Enable),
            disk("s", DiskRoleMeta::Spare, DiskState::Spare),
        ],
        volumes: vec![VolumeView {
            name: "v1".into(),
            running: true,
            legs,
        }],
    }
}

fn snap(c: ClassView) -> Snapshot {
    Snapshot {
        classes: vec![c],
        recorded: Vec::new(),
    }
}

fn healthy() -> ClassView {
    class(vec![
        leg(&["a"], SliceState::Active),
        leg(&["b"], SliceState::Active),
    ])
}

fn kinds(ev: &[Event]) -> Vec<EventKind> {
    ev.iter().map(|e| e.kind).collect()
}

#[test]
fn nothing_changed_nothing_reported() {
    assert!(derive(&snap(healthy()), &snap(healthy()), T).is_empty());
}

#[test]
fn a_class_seen_first_is_compared_with_its_record() {
    let mut failed = healthy();
    failed.volumes[0].legs[1].state = SliceState::Invalid;
    let after = Snapshot {
        classes: vec![failed.clone()],
        recorded: vec![healthy()],
    };
    assert_eq!(
        kinds(&derive(&Snapshot::default(), &after, T)),
        [EventKind::LegFailed]
    );
    // recorded already: nothing new
    let after = Snapshot {
        classes: vec![failed.clone()],
        recorded: vec![failed],
    };
    assert!(derive(&Snapshot::default(), &after, T).is_empty());
}

#[test]
fn leg_failure_and_missing_disk() {
    let mut after = healthy();
    after.volumes[0].legs[1].state = SliceState::Invalid;
    after.disks[1].state = DiskState::Disable;
    let ev = derive(&snap(healthy()), &snap(after), T);
    assert_eq!(
        kinds(&ev),
        [EventKind::DiskDisabled, EventKind::LegFailed],
        "{ev:#?}"
    );
    let f = &ev[1];
    assert_eq!(f.class, "data");
    assert_eq!(f.volume.as_deref(), Some("v1"));
    assert_eq!(f.leg, Some(1));
    assert_eq!(f.disk.as_deref(), Some("b"));
    assert_eq!(f.disk_id.as_deref(), Some("virtio-b"));
    assert_eq!(f.state, "INVALID");
    assert_eq!(f.previous.as_deref(), Some("ACTIVE"));
    assert_eq!(f.time, T);
    assert!(
        f.message.contains("leg 1 failed on disk b (virtio-b)"),
        "{}",
        f.message
    );
    assert!(ev[0].message.contains("missing or unreadable"));
}

#[test]
fn a_failure_of_a_copying_leg_counts() {
    let before = class(vec![
        leg(&["a"], SliceState::Active),
        leg(&["b"], SliceState::Copy),
    ]);
    let after = class(vec![
        leg(&["a"], SliceState::Active),
        leg(&["b"], SliceState::Invalid),
    ]);
    let ev = derive(&snap(before.clone()), &snap(after), T);
    assert_eq!(kinds(&ev), [EventKind::LegFailed]);
    assert_eq!(ev[0].previous.as_deref(), Some("COPY"));
    assert!(
        ev[0]
            .message
            .ends_with("its resync interrupted (last seen 12.5% in sync)"),
        "{}",
        ev[0].message
    );
    // A leg that was in sync: no word of a resync.
    let ev = derive(&snap(healthy()), &snap(with_leg1_invalid(healthy())), T);
    assert!(!ev[0].message.contains("resync"), "{}", ev[0].message);
}

fn with_leg1_invalid(mut c: ClassView) -> ClassView {
    c.volumes[0].legs[1].state = SliceState::Invalid;
    c
}

#[test]
fn a_stopped_volume_reports_no_failure() {
    let mut after = healthy();
    after.volumes[0].running = false;
    after.volumes[0].legs[0].state = SliceState::Stop;
    after.volumes[0].legs[1].state = SliceState::Invalid;
    assert!(derive(&snap(healthy()), &snap(after), T).is_empty());
}

#[test]
fn spare_takes_over_then_finishes_then_is_released() {
    let mut failed = healthy();
    failed.volumes[0].legs[1].state = SliceState::Invalid;
    let mut on_spare = class(vec![
        leg(&["a"], SliceState::Active),
        leg(&["s"], SliceState::Copy),
    ]);
    on_spare.disks[2].state = DiskState::Enable;
    let ev = derive(&snap(failed.clone()), &snap(on_spare.clone()), T);
    assert_eq!(
        kinds(&ev),
        [EventKind::SpareTookOver, EventKind::ResyncStarted],
        "{ev:#?}"
    );
    assert_eq!(ev[0].disk.as_deref(), Some("s"));
    assert_eq!(ev[0].disk_id.as_deref(), Some("virtio-s"));
    assert!(ev[0].message.contains("was on b (virtio-b)"));
    // failure and takeover between two looks: both reported
    let both = derive(&snap(healthy()), &snap(on_spare.clone()), T);
    assert_eq!(
        kinds(&both),
        [
            EventKind::LegFailed,
            EventKind::SpareTookOver,
            EventKind::ResyncStarted
        ]
    );
    assert_eq!(both[0].disk.as_deref(), Some("b"));
    assert_eq!(both[0].state, "INVALID");

    let mut synced = on_spare.clone();
    synced.volumes[0].legs[1].state = SliceState::Active;
    synced.volumes[0].legs[1].sync_percent = None;
    let ev = derive(&snap(on_spare), &snap(synced.clone()), T);
    assert_eq!(kinds(&ev), [EventKind::ResyncFinished]);
    assert_eq!(ev[0].state, "ACTIVE");
    assert_eq!(ev[0].previous.as_deref(), Some("COPY"));

    // swap back onto b, then the spare stands by again
    let mut back = healthy();
    back.volumes[0].legs[1].state = SliceState::Copy;
    back.disks[2].state = DiskState::Enable;
    let ev = derive(&snap(synced), &snap(back.clone()), T);
    assert_eq!(kinds(&ev), [EventKind::ResyncStarted]);
    let mut done = healthy();
    done.disks[2].state = DiskState::Spare;
    let ev = derive(&snap(back), &snap(done), T);
    assert_eq!(
        kinds(&ev),
        [EventKind::SpareReleased, EventKind::ResyncFinished]
    );
    assert_eq!(ev[0].state, "SPARE");
}

#[test]
fn returning_disk_is_readded_and_resyncs() {
    let mut gone = healthy();
    gone.volumes[0].legs[1].state = SliceState::Invalid;
    gone.disks[1].state = DiskState::Disable;
    let mut back = healthy();
    back.volumes[0].legs[1] = leg(&["b"], SliceState::Copy);
    let ev = derive(&snap(gone), &snap(back), T);
    assert_eq!(
        kinds(&ev),
        [EventKind::DiskReadded, EventKind::ResyncStarted]
    );
    assert_eq!(ev[0].state, "ENABLE");
    assert_eq!(ev[0].previous.as_deref(), Some("DISABLE"));
    assert!(ev[1].message.contains("12.5% in sync"));
}

#[test]
fn crafted_label_disables_with_reason() {
    let mut after = healthy();
    after.disks[1].state = DiskState::Disable;
    after.disks[1].reason = Some("crafted label: extent past the disk".into());
    let ev = derive(&snap(healthy()), &snap(after), T);
    assert_eq!(kinds(&ev), [EventKind::DiskDisabled]);
    assert!(ev[0]
        .message
        .ends_with("crafted label: extent past the disk"));
}

#[test]
fn class_closing_once() {
    let mut closed = healthy();
    closed.closed = true;
    closed.closed_reason = Some("1 of 3 metadata copies readable, 2 needed".into());
    let ev = derive(&snap(healthy()), &snap(closed.clone()), T);
    assert_eq!(kinds(&ev), [EventKind::ClassClosing]);
    assert_eq!(ev[0].state, "CLOSED");
    assert!(ev[0].volume.is_none() && ev[0].disk.is_none());
    assert!(derive(&snap(closed.clone()), &snap(closed), T).is_empty());
}

#[test]
fn classes_are_matched_by_uuid() {
    let mut other = healthy();
    other.uuid = "u2".into();
    other.volumes[0].legs[1].state = SliceState::Invalid;
    assert!(derive(&snap(healthy()), &snap(other), T).is_empty());
}

#[test]
fn json_shape() {
    let mut after = healthy();
    after.volumes[0].legs[1].state = SliceState::Invalid;
    let ev = derive(&snap(healthy()), &snap(after), T);
    let v = serde_json::to_value(&ev[0]).unwrap();
    assert_eq!(v["kind"], "leg_failed");
    for k in [
        "time", "class", "volume", "leg", "disk", "disk_id", "state", "previous", "message",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(EventKind::LegFailed.word(), "leg_failed");
}

#[test]
fn view_from_status_uses_recorded_legs_roles_and_ids() {
    use crate::state::{ClassStatus, DiskStatus, SliceStatus, VolumeState, VolumeStatus};
    let meta = sample_class();
    let st = ClassStatus {
        name: meta.name.clone(),
        uuid: meta.uuid.to_string(),
        class_type: meta.class_type,
        generation: meta.generation,
        disks: meta
            .disks
            .iter()
            .map(|d| DiskStatus {
                name: d.name.clone(),
                path: None,
                state: d.state,
                size: 0,
                reason: None,
            })
            .collect(),
        volumes: meta
            .volumes
            .iter()
            .map(|v| VolumeStatus {
                name: v.name.clone(),
                state: VolumeState::Active,
                path: String::new(),
                size: 0,
                engine: v.engine,
                group: v.on.clone(),
                sync_percent: Some(100.0),
                copy_rate: None,
                start_lock: None,
                partner_wait: None,
                slices: v
                    .layout
                    .legs
                    .iter()
                    .enumerate()
                    .map(|(i, l)| SliceStatus {
                        leg: i,
                        disk: l.disks().join("+"),
                        state: SliceState::Active,
                        sync_percent: None,
                    })
                    .collect(),
                live: true,
            })
            .collect(),
        snapshots: Vec::new(),
        proxies: Vec::new(),
        closed: false,
        closed_reason: None,
        pending_intent: None,
        undo_pending: None,
        leases: None,
        boot_environment: None,
    };
    let mut sn = Snapshot::default();
    sn.add(&meta, &st);
    let view = sn.classes[0].clone();
    assert_eq!(sn.recorded[0], view, "status as recorded: the same view");
    assert!(derive(&sn.as_recorded(), &sn, T).is_empty());
    // d2's leg recorded INVALID with a departure: the record says so
    let mut failed = meta.clone();
    failed.volumes[0].layout.legs[1].state = SliceState::Invalid;
    failed.departed.push(crate::metadata::Departure {
        disk: "d2".into(),
        generation: 1,
        reason: "test".into(),
        takeovers: Vec::new(),
    });
    let rec = ClassView::recorded(&failed, &view);
    assert_eq!(rec.disks[1].state, DiskState::Disable);
    assert_eq!(rec.volumes[0].legs[1].state, SliceState::Invalid);
    assert_eq!(view.disks.len(), meta.disks.len());
    for d in &view.disks {
        assert_eq!(d.id, meta.stable_id(&d.name));
    }
    let v = &view.volumes[0];
    assert!(v.running);
    assert_eq!(v.legs[0].disks, ["d1"]);
}

#[test]
fn rfc3339() {
    assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339_utc(1_798_761_599), "2026-12-31T23:59:59Z");
    assert_eq!(rfc3339_utc(1_796_533_815), "2026-12-06T05:10:15Z");
}

#[test]
fn a_leg_back_in_sync_between_two_looks_is_reported() {
    let out = with_leg1_invalid(healthy());
    let ev = derive(&snap(out.clone()), &snap(healthy()), T);
    assert_eq!(kinds(&ev), [EventKind::ResyncFinished], "{ev:#?}");
    assert_eq!(ev[0].previous.as_deref(), Some("INVALID"));
    assert!(
        ev[0].message.contains("leg 1 in sync again on disk b"),
        "{}",
        ev[0].message
    );
    // A stopped volume's legs say nothing.
    let mut stopped = out.clone();
    stopped.volumes[0].running = false;
    let mut stopped_now = healthy();
    stopped_now.volumes[0].running = false;
    assert!(derive(&snap(stopped), &snap(stopped_now), T).is_empty());
}

#[test]
fn a_leg_out_or_copying_is_watched_closely() {
    assert!(!watch_closely(&snap(healthy())));
    assert!(watch_closely(&snap(with_leg1_invalid(healthy()))));
    let copying = class(vec![
        leg(&["a"], SliceState::Active),
        leg(&["b"], SliceState::Copy),
    ]);
    assert!(watch_closely(&snap(copying.clone())));
    let mut stopped = copying;
    stopped.volumes[0].running = false;
    assert!(!watch_closely(&snap(stopped)));
}
