//! Copy-on-write snapshots end to end on the simulated kernel: apply, data through
//! origin and snapshot, merge (now, deferred, after reboot), overflow, two snapshots,
//! removal, status and export.
#![allow(clippy::unwrap_used)]

use crate::assemble::{activate, deactivate, group_classes, scan, ClassOnDisks};
use crate::io::Kernel as _;
use crate::plan::tests::{apply, plan_for, v1, world, yaml, W};
use crate::plan::{plan_finish, plan_merge, read_actual, Plan, PlanOptions};
use crate::state::class_status;
use dmclass_model::{Bytes, Class};
use std::fmt::Write as _;

const TOP: &str = "dmclass-data-v1";
const SNAP: &str = "dmclass-data-s1";

fn found(w: &W) -> Vec<ClassOnDisks> {
    group_classes(&scan(&w.d.paths(), &w.d).found)
}

fn with_snaps(snaps: &[(&str, &str)]) -> Class {
    let mut s = v1("16MiB");
    if !snaps.is_empty() {
        s.push_str("    snapshots:\n");
        for (n, size) in snaps {
            let _ = writeln!(
                s,
                "      - {{name: {n}, origin: v1, type: cow, size: {size}, chunk: 4KiB}}"
            );
        }
    }
    yaml(&["d1", "d2"], &s)
}

fn run(w: &mut W, p: &Plan) {
    crate::exec::execute(p, &w.b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
}

fn merge(w: &mut W, c: &Class, name: &str) -> Plan {
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let p = plan_merge(c, &w.b, &a, name, &PlanOptions::default()).unwrap();
    run(w, &p);
    p
}

fn finish(w: &mut W, c: &Class) -> bool {
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    match plan_finish(c, &w.b, &a, &w.k).unwrap() {
        Some(p) => {
            run(w, &p);
            true
        }
        None => false,
    }
}

fn fill(b: u8, n: usize) -> Vec<u8> {
    vec![b; n]
}

fn table(w: &W, name: &str) -> String {
    let t = w.k.table(name).unwrap();
    format!("{} {}", t[0].target, t[0].params)
}

#[test]
fn snapshot_data_merge_and_reboot() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &with_snaps(&[]), false).unwrap();
    w.k.write_dev(TOP, Bytes(0), &fill(b'A', 65536)).unwrap();
    let c = with_snaps(&[("s1", "4MiB")]);
    let p = apply(&mut w, &c, false).unwrap();
    // Store header zeroed before use, metadata before the kernel, origin suspended
    // while the snapshot is loaded, origin resumed last.
    let kinds: Vec<String> = p
        .actions
        .iter()
        .map(|a| format!("{:?} {}", a.kind, a.object))
        .collect();
    let pos = |s: &str| kinds.iter().position(|k| k == s).unwrap();
    assert!(pos("WriteMetadata data") < pos("Create dmclass-data-s1-cow"));
    assert!(pos("Suspend dmclass-data-v1") < pos("Load dmclass-data-s1"));
    assert!(pos("Resume dmclass-data-s1") < pos("Resume dmclass-data-v1"));
    assert!(kinds.iter().any(|k| k.starts_with("ZeroExtent")));
    assert!(plan_for(&w, &c, false).unwrap().is_empty(), "idempotent");
    assert!(table(&w, TOP).starts_with("snapshot-origin 253:"));
    assert!(table(&w, SNAP).starts_with("snapshot 253:"));
    assert!(table(&w, SNAP).ends_with(" P 8"));
    assert!(table(&w, "dmclass-data-v1-real").starts_with("raid raid1"));
    assert!(
        table(&w, "dmclass-data-s1-cow").starts_with("raid raid1"),
        "mirrored store"
    );

    w.k.write_dev(TOP, Bytes(0), &fill(b'B', 65536)).unwrap();
    assert_eq!(
        w.k.read_dev(SNAP, Bytes(0), 65536).unwrap(),
        fill(b'A', 65536)
    );
    assert_eq!(
        w.k.read_dev(TOP, Bytes(0), 65536).unwrap(),
        fill(b'B', 65536)
    );
    let classes = found(&w);
    let st = class_status(&classes[0].meta, &classes[0].present, &w.k).unwrap();
    assert_eq!(st.volumes[0].slices.len(), 2, "origin health from -real");
    assert_eq!(st.snapshots[0].state, "ACTIVE");
    let u = st.snapshots[0].usage.as_ref().unwrap();
    assert_eq!(u.allocated, (2 + 16) * 4096);
    assert_eq!(u.total, 4 << 20);

    // deactivate, reboot, activate: the snapshot comes back with its data.
    deactivate("data", &mut w.k).unwrap();
    assert!(w.k.list().unwrap().is_empty());
    w.k.reboot();
    let classes = found(&w);
    activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert_eq!(
        w.k.read_dev(SNAP, Bytes(0), 65536).unwrap(),
        fill(b'A', 65536)
    );
    assert_eq!(
        w.k.read_dev(TOP, Bytes(0), 65536).unwrap(),
        fill(b'B', 65536)
    );

    // Merge: the origin reads A again; finishing removes the snapshot.
    merge(&mut w, &c, "s1");
    assert!(w.k.info(SNAP).unwrap().is_none());
    assert!(table(&w, TOP).starts_with("snapshot-merge "));
    assert_eq!(
        w.k.read_dev(TOP, Bytes(0), 65536).unwrap(),
        fill(b'A', 65536)
    );
    let classes = found(&w);
    let st = class_status(&classes[0].meta, &classes[0].present, &w.k).unwrap();
    assert_eq!(st.snapshots[0].state, "MERGING");
    assert!(finish(&mut w, &c));
    assert!(table(&w, TOP).starts_with("raid raid1"));
    assert!(w.k.info("dmclass-data-v1-real").unwrap().is_none());
    assert!(w.k.info("dmclass-data-s1-cow").unwrap().is_none());
    let classes = found(&w);
    assert!(classes[0].meta.snapshots.is_empty());
    assert_eq!(
        w.k.read_dev(TOP, Bytes(0), 65536).unwrap(),
        fill(b'A', 65536)
    );
    assert!(!finish(&mut w, &c));
}

#[test]
fn deferred_merge_starts_at_activation() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &with_snaps(&[]), false).unwrap();
    w.k.write_dev(TOP, Bytes(0), &fill(b'A', 8192)).unwrap();
    let c = with_snaps(&[("s1", "4MiB")]);
    apply(&mut w, &c, false).unwrap();
    w.k.write_dev(TOP, Bytes(0), &fill(b'B', 8192)).unwrap();
    w.k.set_open_count(TOP, 1).unwrap();
    let p = merge(&mut w, &c, "s1");
    assert!(
        p.notes.iter().any(|n| n.contains("next activation")),
        "{:?}",
        p.notes
    );
    assert!(table(&w, TOP).starts_with("snapshot-origin"));
    let classes = found(&w);
    let st = class_status(&classes[0].meta, &classes[0].present, &w.k).unwrap();
    assert_eq!(st.snapshots[0].state, "MERGING");
    assert!(st.snapshots[0].note.as_ref().unwrap().contains("open"));
    w.k.set_open_count(TOP, 0).unwrap();
    deactivate("data", &mut w.k).unwrap();
    w.k.reboot();
    let classes = found(&w);
    activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert!(table(&w, TOP).starts_with("snapshot-merge"));
    assert_eq!(w.k.read_dev(TOP, Bytes(0), 8192).unwrap(), fill(b'A', 8192));
    assert!(finish(&mut w, &c));
    assert!(table(&w, TOP).starts_with("raid raid1"));
}

#[test]
fn full_store_is_invalid_origin_intact_and_two_snapshots() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &with_snaps(&[]), false).unwrap();
    w.k.write_dev(TOP, Bytes(0), &fill(b'A', 1 << 20)).unwrap();
    let c = with_snaps(&[("s1", "1MiB"), ("s2", "8MiB")]);
    apply(&mut w, &c, false).unwrap();
    // 2 MiB of changes: more than s1's 1 MiB store holds.
    w.k.write_dev(TOP, Bytes(0), &fill(b'B', 2 << 20)).unwrap();
    assert_eq!(
        w.k.read_dev(TOP, Bytes(0), 2 << 20).unwrap(),
        fill(b'B', 2 << 20)
    );
    assert!(w.k.read_dev(SNAP, Bytes(0), 4096).is_err());
    assert_eq!(
        w.k.read_dev("dmclass-data-s2", Bytes(0), 1 << 20).unwrap(),
        fill(b'A', 1 << 20)
    );
    let classes = found(&w);
    let st = class_status(&classes[0].meta, &classes[0].present, &w.k).unwrap();
    let by = |n: &str| st.snapshots.iter().find(|s| s.name == n).unwrap();
    assert_eq!(by("s1").state, "INVALID");
    assert_eq!(by("s2").state, "ACTIVE");
    assert!(crate::state::render(std::slice::from_ref(&st)).contains("INVALID"));
    // Export re-applies as a no-op.
    let cfg = crate::export::export(&classes[0].meta).unwrap();
    let again = cfg.classes.into_iter().next().unwrap();
    assert!(plan_for(&w, &again, false).unwrap().is_empty());
    // Removing s1 needs --allow-destroy; the origin keeps snapshot-origin for s2.
    let only2 = with_snaps(&[("s2", "8MiB")]);
    assert!(plan_for(&w, &only2, false).is_err());
    apply(&mut w, &only2, true).unwrap();
    assert!(w.k.info(SNAP).unwrap().is_none());
    assert!(w.k.info("dmclass-data-s1-cow").unwrap().is_none());
    assert!(table(&w, TOP).starts_with("snapshot-origin"));
    // The last one gone: the origin's own table comes back, -real goes.
    apply(&mut w, &with_snaps(&[]), true).unwrap();
    assert!(table(&w, TOP).starts_with("raid raid1"));
    assert!(w.k.info("dmclass-data-v1-real").unwrap().is_none());
    assert_eq!(
        w.k.read_dev(TOP, Bytes(0), 2 << 20).unwrap(),
        fill(b'B', 2 << 20)
    );
    assert_eq!(w.k.list().unwrap().len(), 5);
}
