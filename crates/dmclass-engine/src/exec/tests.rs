//! End-to-end tests on the simulated kernel and disks: apply, re-apply, data,
//! deactivate, reboot + activate, degraded activation, supported changes.
#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

use crate::assemble::{activate, deactivate, group_classes, scan, ClassOnDisks};
use crate::io::{Disks as _, Kernel as _};
use crate::layout::SliceState;
use crate::plan::tests::{apply, plan_for, sums, v1, world, yaml, MIRROR, W};
use crate::state::{class_status, VolumeState};
use crate::EngineError;
use dmclass_model::Bytes;

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            seed.wrapping_add(u8::try_from(i / 512 % 256).unwrap())
                .wrapping_mul(13)
        })
        .collect()
}

fn found(w: &W) -> Vec<ClassOnDisks> {
    let paths = w.d.paths();
    group_classes(&scan(&paths, &w.d).found)
}

const TOP: &str = "dmclass-data-v1";

#[test]
fn raid1_apply_reapply_data_reboot_activate_degraded() {
    let mut w = world(&["d1", "d2"], 128);
    let c = yaml(&["d1", "d2"], &v1("16MiB"));
    apply(&mut w, &c, false).unwrap();
    assert!(
        plan_for(&w, &c, false).unwrap().is_empty(),
        "re-apply plans nothing"
    );
    let bytes = data(3, 256 * 1024);
    w.k.write_dev(TOP, Bytes(4096), &bytes).unwrap();
    assert_eq!(w.k.read_dev(TOP, Bytes(4096), bytes.len()).unwrap(), bytes);
    // deactivate: every device gone.
    let removed = deactivate("data", &mut w.k).unwrap();
    assert_eq!(removed.first().map(String::as_str), Some(TOP));
    assert_eq!(removed.len(), 5);
    assert!(w.k.list().unwrap().is_empty());
    // reboot, scan, activate: same data; again: idempotent.
    w.k.reboot();
    let classes = found(&w);
    assert_eq!(classes.len(), 1);
    assert!(classes[0].missing.is_empty());
    let r = activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert_eq!(r.started, ["v1"]);
    assert_eq!(w.k.read_dev(TOP, Bytes(4096), bytes.len()).unwrap(), bytes);
    let r = activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert_eq!(r.already_active, ["v1"]);
    assert!(plan_for(&w, &c, false).unwrap().is_empty());
    let st = class_status(&classes[0].meta, &classes[0].present, &w.k).unwrap();
    assert_eq!(st.volumes[0].state, VolumeState::Active);
    assert_eq!(st.volumes[0].path, "/dev/dmclass/data/v1");
    assert!(
        st.volumes[0]
            .slices
            .iter()
            .all(|s| s.state == SliceState::Active),
        "{st:?}"
    );
    // Pull d2, reboot: degraded with a warning, data readable.
    w.k.reboot();
    w.d.remove_disk(&w.b[1].path).unwrap();
    let classes = found(&w);
    assert_eq!(classes[0].missing, ["d2"]);
    let r = activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert_eq!(r.degraded, [("v1".to_owned(), vec![1])]);
    assert!(
        r.warnings
            .iter()
            .any(|m| m.contains("degraded") && m.contains("d2")),
        "{r:?}"
    );
    assert_eq!(w.k.read_dev(TOP, Bytes(4096), bytes.len()).unwrap(), bytes);
    let st = class_status(&classes[0].meta, &classes[0].present, &w.k).unwrap();
    assert_eq!(st.volumes[0].state, VolumeState::Active);
    assert_eq!(st.volumes[0].slices[1].state, SliceState::Invalid);
    assert_eq!(st.disks[1].path, None);
    assert!(crate::state::render(&[st]).contains("INVALID"));
}

#[test]
fn open_volume_is_not_deactivated() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &yaml(&["d1", "d2"], &v1("16MiB")), false).unwrap();
    w.k.set_open_count(TOP, 1).unwrap();
    let err = deactivate("data", &mut w.k).unwrap_err();
    assert!(matches!(err, EngineError::Refused { .. }), "{err}");
    assert_eq!(w.k.list().unwrap().len(), 5);
}

#[test]
fn add_volume_grow_add_leg_and_remove() {
    let mut w = world(&["d1", "d2", "d3"], 128);
    let c = yaml(&["d1", "d2"], &v1("16MiB"));
    apply(&mut w, &c, false).unwrap();
    let bytes = data(9, 64 * 1024);
    w.k.write_dev(TOP, Bytes(0), &bytes).unwrap();
    // Add a volume.
    let two = format!("{}      - {{name: v2, on: m, size: 8MiB}}\n", v1("16MiB"));
    let p = apply(&mut w, &yaml(&["d1", "d2"], &two), false).unwrap();
    // Generation 1 recorded the intent of creating the class, 2 cleared it.
    assert_eq!(p.based_on_generation, Some(2));
    assert!(w.k.info("dmclass-data-v2").unwrap().is_some());
    // Grow v1: reload of the live stack, data kept.
    let grown = format!("{}      - {{name: v2, on: m, size: 8MiB}}\n", v1("24MiB"));
    let p = apply(&mut w, &yaml(&["d1", "d2"], &grown), false).unwrap();
    assert!(p
        .actions
        .iter()
        .any(|a| a.object == TOP && format!("{:?}", a.kind) == "Suspend"));
    assert_eq!(w.k.table(TOP).unwrap()[0].len.0, 24 * 2048);
    assert_eq!(w.k.read_dev(TOP, Bytes(0), bytes.len()).unwrap(), bytes);
    assert!(plan_for(&w, &yaml(&["d1", "d2"], &grown), false)
        .unwrap()
        .is_empty());
    // Third leg on d3: format d3, rebuild, final metadata with the leg ACTIVE.
    let three = grown.replace("members: [d1, d2]", "members: [d1, d2, d3]");
    let c3 = yaml(&["d1", "d2", "d3"], &three);
    let p = apply(&mut w, &c3, false).unwrap();
    let t = w.k.table(TOP).unwrap();
    assert!(t[0].params.contains(" 3 "), "{t:?}");
    assert!(p.actions.last().unwrap().detail.contains("rebuilt"));
    assert!(plan_for(&w, &c3, false).unwrap().is_empty());
    let classes = found(&w);
    // Two writes per apply that changes the kernel (intent, then cleared).
    assert_eq!(classes[0].meta.generation, 8);
    assert!(classes[0]
        .meta
        .volume("v1")
        .unwrap()
        .layout
        .legs
        .iter()
        .all(|l| l.state == SliceState::Active));
    assert_eq!(w.k.read_dev(TOP, Bytes(0), bytes.len()).unwrap(), bytes);
    // Remove v2: refused without allow_destroy, done with it (top first, metadata last).
    let only = three.replace("      - {name: v2, on: m, size: 8MiB}\n", "");
    let c4 = yaml(&["d1", "d2", "d3"], &only);
    let before = sums(&w);
    assert!(matches!(
        apply(&mut w, &c4, false),
        Err(EngineError::Refused { .. })
    ));
    assert_eq!(sums(&w), before);
    let p = apply(&mut w, &c4, true).unwrap();
    // The intent (current description + intent) is written before the removal.
    assert_eq!(
        format!("{:?}", p.actions.first().unwrap().kind),
        "WriteMetadata"
    );
    assert_eq!(p.actions[1].object, "dmclass-data-v2");
    assert_eq!(
        format!("{:?}", p.actions.last().unwrap().kind),
        "WriteMetadata"
    );
    assert!(w.k.info("dmclass-data-v2").unwrap().is_none());
    assert!(plan_for(&w, &c4, false).unwrap().is_empty());
}

#[test]
fn dm_mirror_engine_and_layered_groups() {
    let mut w = world(&["d1", "d2", "d3", "d4"], 128);
    let rest = format!(
        "{MIRROR}      - {{name: s, type: stripe, members: [d3, d4], stripe_size: 64KiB}}\n    volumes:\n      - {{name: mj, on: m, size: 8MiB, engine: mirror, jrm: true}}\n      - {{name: mc, on: m, size: 8MiB, engine: mirror, jrm: false}}\n      - {{name: st, on: s, size: 16MiB}}\n"
    );
    let c = yaml(&["d1", "d2", "d3", "d4"], &rest);
    apply(&mut w, &c, false).unwrap();
    assert!(w.k.table("dmclass-data-mj").unwrap()[0]
        .params
        .starts_with("disk 2 "));
    assert!(w.k.table("dmclass-data-mc").unwrap()[0]
        .params
        .starts_with("core 1 "));
    assert_eq!(w.k.table("dmclass-data-st").unwrap()[0].target, "striped");
    for (dev, seed) in [
        ("dmclass-data-mj", 1u8),
        ("dmclass-data-mc", 2),
        ("dmclass-data-st", 3),
    ] {
        let b = data(seed, 128 * 1024);
        w.k.write_dev(dev, Bytes(8192), &b).unwrap();
        assert_eq!(w.k.read_dev(dev, Bytes(8192), b.len()).unwrap(), b, "{dev}");
    }
    assert!(plan_for(&w, &c, false).unwrap().is_empty());
    // Reboot and activate the whole class again.
    w.k.reboot();
    let classes = found(&w);
    let r = activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert_eq!(r.started.len(), 3);
    assert_eq!(
        w.k.read_dev("dmclass-data-st", Bytes(8192), 4096).unwrap(),
        data(3, 4096)
    );
}

#[test]
fn mirror_over_concat() {
    let mut w = world(&["a1", "a2", "b1", "b2"], 64);
    let rest = "    groups:\n      - {name: ca, type: concat, members: [a1, a2]}\n      - {name: cb, type: concat, members: [b1, b2]}\n      - {name: m, type: mirror, members: [ca, cb]}\n    volumes:\n      - {name: big, on: m, size: 48MiB}\n";
    let c = yaml(&["a1", "a2", "b1", "b2"], rest);
    apply(&mut w, &c, false).unwrap();
    // 48 MiB does not fit on one 64 MiB disk after the area: each leg spans two disks.
    let t = w.k.table("dmclass-data-big_rimage_0").unwrap();
    assert_eq!(t.len(), 2, "{t:?}");
    let b = data(5, 1 << 20);
    w.k.write_dev("dmclass-data-big", Bytes(40 << 20), &b)
        .unwrap();
    assert_eq!(
        w.k.read_dev("dmclass-data-big", Bytes(40 << 20), b.len())
            .unwrap(),
        b
    );
    assert!(plan_for(&w, &c, false).unwrap().is_empty());
}

#[test]
fn export_reapplies_as_a_no_op() {
    let mut w = world(&["d1", "d2", "d3"], 128);
    let c = crate::plan::tests::class(&format!(
        "  - name: data\n    type: local\n    disks:\n      - {{name: d1, device: /dev/disk/by-id/virtio-d1}}\n      - {{name: d2, device: /dev/disk/by-id/virtio-d2}}\n      - {{name: d3, device: /dev/disk/by-id/virtio-d3, role: single}}\n{MIRROR}    volumes:\n      - {{name: v1, on: m, size: 10MiB}}\n      - {{name: x, on: d3, size: 3MiB, mode: ro}}\n"
    ));
    apply(&mut w, &c, false).unwrap();
    let classes = found(&w);
    let cfg = crate::export::export(&classes[0].meta).unwrap();
    let text = dmclass_model::to_yaml(&cfg);
    let back = dmclass_model::parse("export.yaml", &text).unwrap();
    assert!(text.contains("device: /dev/disk/by-id/virtio-d1"), "{text}");
    assert!(
        text.contains("size: 10MiB") || text.contains("size: 10 MiB"),
        "{text}"
    );
    assert!(
        plan_for(&w, &back.classes[0], false).unwrap().is_empty(),
        "{text}"
    );
    let _ = w.d.size(&w.b[0].path).unwrap();
}
