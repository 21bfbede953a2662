//! Crafted labels on the simulated disks: a valid label is decoded, tampered with and
//! re-encoded (so every checksum passes), then activation, status and the udev event
//! path must show the disk DISABLE with the reason, never write it, and not panic.
#![allow(clippy::unwrap_used)]

use crate::assemble::{classes_of, deactivate, recover::activate_recovering, scan};
use crate::io::Disks as _;
use crate::layout::{Extent, Segment};
use crate::metadata::{
    decode_area, encode_slot, label_problem, ClassMeta, DecodedArea, DiskState, LabelContext,
    AREA_SIZE, MAX_GENERATION, SLOT_OFFSETS,
};
use crate::plan::tests::{apply, world, yaml, W};
use crate::react::{disk_added, Policy};
use crate::state::class_on_disks_status;
use dmclass_model::{Bytes, Sectors};
use std::collections::BTreeMap;
use std::path::PathBuf;

const REST: &str = "    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n      - {name: v1, on: m, size: 64MiB}\n      - {name: v2, on: m, size: 64MiB}\n";

fn setup() -> W {
    let mut w = world(&["d1", "d2"], 256);
    apply(&mut w, &yaml(&["d1", "d2"], REST), false).unwrap();
    w
}

fn paths(w: &W) -> Vec<PathBuf> {
    w.b.iter().map(|b| b.path.clone()).collect()
}

fn path(w: &W, name: &str) -> PathBuf {
    w.b.iter().find(|b| b.name == name).unwrap().path.clone()
}

fn area(w: &W, name: &str) -> DecodedArea {
    let bytes =
        w.d.read(
            &path(w, name),
            Bytes(0),
            usize::try_from(AREA_SIZE).unwrap(),
        )
        .unwrap();
    decode_area(name, &bytes).unwrap()
}

/// Rewrite the winning slot of disk `name` with `tamper` applied: checksums valid,
/// content hostile.
fn tamper(w: &mut W, name: &str, tamper: impl FnOnce(&mut ClassMeta)) {
    let a = area(w, name);
    let mut meta = a.meta.clone();
    tamper(&mut meta);
    let slot = encode_slot(&a.header, u32::try_from(a.active).unwrap(), &meta).unwrap();
    w.d.write(&path(w, name), Bytes(SLOT_OFFSETS[a.active]), &slot)
        .unwrap();
}

fn first_extent(meta: &mut ClassMeta, vol: usize, leg: usize) -> &mut Extent {
    match &mut meta.volumes[vol].layout.legs[leg].segments[0] {
        Segment::Linear { extent } => extent,
        Segment::Striped { columns, .. } => &mut columns[0],
    }
}

/// v2's data on d2 moved over v1's data on d2.
fn overlap(m: &mut ClassMeta) {
    let at = first_extent(m, 0, 1).offset;
    first_extent(m, 1, 1).offset = at;
}

/// A way to tamper with a class description.
type Tamper = Box<dyn Fn(&mut ClassMeta)>;

fn problem(w: &W, name: &str, ctx: &LabelContext<'_>) -> Option<String> {
    label_problem(&area(w, name), ctx)
}

#[test]
fn label_problem_names_each_kind_of_crafted_label() {
    let mut w = setup();
    let none = LabelContext::default();
    assert_eq!(problem(&w, "d2", &none), None, "a real label passes");
    let cases: Vec<(&str, Tamper)> = vec![
        ("overlap", Box::new(overlap)),
        (
            "past the end of disk d2",
            Box::new(|m| first_extent(m, 0, 1).len = Sectors(1 << 40)),
        ),
        (
            "over the metadata area",
            Box::new(|m| first_extent(m, 0, 1).offset = Sectors(8)),
        ),
        (
            "absurd count",
            Box::new(|m| {
                let g = m.groups[0].clone();
                m.groups = vec![g; 5000];
            }),
        ),
        (
            "absurd length",
            Box::new(|m| m.disks[1].size = Sectors(u64::MAX)),
        ),
        (
            "from the future",
            Box::new(|m| m.generation = MAX_GENERATION + 1),
        ),
        (
            "is not an absolute path",
            Box::new(|m| m.secret_file = Some("etc/nm.secrets".into())),
        ),
        (
            "does not list the disk carrying it",
            Box::new(|m| {
                m.disks.retain(|d| d.name != "d2");
            }),
        ),
    ];
    let good = area(&w, "d2").meta;
    for (want, f) in cases {
        tamper(&mut w, "d2", |m| {
            *m = good.clone();
            f(m);
        });
        let why = problem(&w, "d2", &none).unwrap_or_default();
        assert!(why.contains(want), "{want}: {why}");
    }
    // Recorded bigger than the device it is on.
    tamper(&mut w, "d2", |m| *m = good.clone());
    let ctx = LabelContext {
        device_size: Some(Sectors(1000)),
        ..LabelContext::default()
    };
    assert!(problem(&w, "d2", &ctx)
        .unwrap()
        .contains("past the end of the device"));
    // Newer than the running class.
    let ctx = LabelContext {
        running_generation: Some(good.generation - 1),
        ..LabelContext::default()
    };
    assert!(problem(&w, "d2", &ctx).unwrap().contains("from the future"));
    // Data on a disk whose own header names another class.
    let d1 = good.disks[0].uuid;
    let others = BTreeMap::from([(d1, (uuid::Uuid::from_u128(9), "other".to_owned()))]);
    let ctx = LabelContext {
        disk_classes: Some(&others),
        ..LabelContext::default()
    };
    assert!(problem(&w, "d2", &ctx)
        .unwrap()
        .contains("another class's data"));
}

#[test]
fn activation_skips_a_crafted_disk_reports_it_and_never_writes_it() {
    let mut w = setup();
    deactivate("data", &mut w.k).unwrap();
    tamper(&mut w, "d2", overlap);
    w.d.reset_counters();
    let found = scan(&paths(&w), &w.d);
    assert_eq!(found.hostile.len(), 1);
    let classes = classes_of(&found);
    let c = &classes[0];
    assert_eq!(c.disabled.len(), 1);
    assert!(c.missing.contains(&"d2".to_owned()));
    let r = activate_recovering(c, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert_eq!(r.degraded.len(), 2, "both volumes start without d2: {r:?}");
    assert!(
        r.warnings
            .iter()
            .any(|x| x.contains("disk d2") && x.contains("DISABLE") && x.contains("overlap")),
        "{r:?}"
    );
    assert_eq!(
        w.d.bytes_written(path(&w, "d2")).unwrap().0,
        0,
        "never written"
    );
    // status shows it DISABLE at its path, with the reason, in text and JSON.
    let st = class_on_disks_status(c, &w.k).unwrap();
    let d2 = st.disks.iter().find(|d| d.name == "d2").unwrap();
    assert_eq!(d2.state, DiskState::Disable);
    assert_eq!(d2.path.as_deref(), Some("/dev/vdc"));
    assert!(d2.reason.as_deref().unwrap().contains("crafted label"));
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["disks"][1]["state"], "DISABLE");
    assert!(json["disks"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("overlap"));
    assert!(json["disks"][0].get("reason").is_none(), "{json}");
    let text = crate::state::render(std::slice::from_ref(&st));
    assert!(text.contains("reason: crafted label"), "{text}");
}

#[test]
fn a_crafted_label_with_a_winning_generation_does_not_take_over_the_class() {
    let mut w = setup();
    deactivate("data", &mut w.k).unwrap();
    let real = area(&w, "d1").meta.generation;
    tamper(&mut w, "d2", |m| {
        m.generation = u64::MAX - 1;
        overlap(m);
    });
    let classes = classes_of(&scan(&paths(&w), &w.d));
    assert_eq!(classes[0].meta.generation, real, "d1's description is used");
}

#[test]
fn the_event_path_refuses_a_crafted_disk_without_writing() {
    let mut w = setup();
    let d2 = path(&w, "d2");
    tamper(&mut w, "d2", overlap);
    w.d.reset_counters();
    let h = disk_added(&d2, &paths(&w), &mut w.k, &mut w.d, &Policy::default())
        .unwrap()
        .unwrap();
    assert!(
        h.carried.warnings[0].contains("crafted label")
            && h.carried.warnings[0].contains("DISABLE"),
        "{:?}",
        h.carried
    );
    for p in paths(&w) {
        assert_eq!(w.d.bytes_written(&p).unwrap().0, 0, "nothing written");
    }
}

#[test]
fn the_event_path_refuses_a_generation_from_the_future_while_the_class_runs() {
    let mut w = setup();
    let d2 = path(&w, "d2");
    let real = area(&w, "d1").meta.generation;
    // Semantically sound, but newer than the running class: written elsewhere.
    tamper(&mut w, "d2", |m| m.generation += 5);
    w.d.reset_counters();
    let h = disk_added(&d2, &paths(&w), &mut w.k, &mut w.d, &Policy::default())
        .unwrap()
        .unwrap();
    assert_eq!(h.class.meta.generation, real, "the running class decides");
    assert!(
        h.carried.warnings[0].contains("from the future")
            || h.carried.warnings[0].contains("newer than the running class"),
        "{:?}",
        h.carried
    );
    for p in paths(&w) {
        assert_eq!(w.d.bytes_written(&p).unwrap().0, 0, "nothing written");
    }
}
