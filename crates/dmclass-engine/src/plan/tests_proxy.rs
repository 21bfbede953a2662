//! Proxy volumes end to end on the simulated kernel: join (full copy), part (frozen
//! copy, bitmap tracking), rejoin (incremental, or full after a read-write part),
//! restore (refused while the master is open), break; golden tables; status; export.
#![allow(
    clippy::unwrap_used,
    clippy::many_single_char_names,
    clippy::format_push_string,
    clippy::large_stack_arrays,
    clippy::cast_possible_truncation,
    clippy::manual_range_contains
)]

use super::{plan_proxy, ProxyOp};
use crate::io::{Disks as _, Kernel as _};
use crate::plan::tests::{apply, world, yaml, W};
use crate::plan::{read_actual, Plan, PlanOptions};
use crate::state::class_status;
use crate::EngineError;
use dmclass_model::{Bytes, Class};

const TOP: &str = "dmclass-data-v1";
const PROXY: &str = "dmclass-data-p1";
const MIB: u64 = 1 << 20;
const DISKS: [&str; 4] = ["d1", "d2", "d3", "d4"];

fn class_with(proxy: Option<&str>) -> Class {
    let mut s = String::from(
        "    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n      - {name: pg, type: mirror, members: [d3, d4]}\n    volumes:\n      - {name: v1, on: m, size: 64MiB}\n",
    );
    if let Some(state) = proxy {
        s.push_str(&format!(
            "    snapshots:\n      - {{name: p1, type: proxy, origin: v1, on: pg, state: {state}}}\n"
        ));
    }
    yaml(&DISKS, &s)
}

fn op(w: &mut W, o: ProxyOp) -> crate::Result<Plan> {
    let c = class_with(Some("joined"));
    let a = read_actual(&w.b, &w.d, &w.k)?;
    let p = plan_proxy(&c, &w.b, &a, "p1", o, &PlanOptions::default())?;
    crate::exec::execute(&p, &w.b, &mut w.k, &mut w.d, &mut |_| {})?;
    Ok(p)
}

fn table(w: &W, name: &str) -> String {
    let t = w.k.table(name).unwrap();
    t.iter()
        .map(|l| format!("{} {} {} {}", l.start.0, l.len.0, l.target, l.params))
        .collect::<Vec<_>>()
        .join("\n")
}

fn dev_map(w: &W) -> std::collections::BTreeMap<String, String> {
    w.k.list()
        .unwrap()
        .into_iter()
        .map(|i| (i.devnum.to_string(), i.name))
        .collect()
}

/// A table with dm device numbers replaced by names (stable goldens).
fn named(w: &W, name: &str) -> String {
    let m = dev_map(w);
    table(w, name)
        .split(' ')
        .map(|x| m.get(x).cloned().unwrap_or_else(|| x.to_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// 16 scattered 64 KiB blocks (1 MiB) of `b`.
fn scatter(w: &mut W, dev: &str, b: u8) {
    for i in 0..16u64 {
        w.k.write_dev(dev, Bytes(i * 4 * MIB + 128 * 1024), &[b; 65536])
            .unwrap();
    }
}

fn read(w: &W, dev: &str, off: u64, len: usize) -> Vec<u8> {
    w.k.read_dev(dev, Bytes(off), len).unwrap()
}

fn proxy_status(w: &W) -> crate::proxy::state::ProxyEntry {
    let classes = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    let c = &classes[0];
    class_status(&c.meta, &c.present, &w.k).unwrap().proxies[0].clone()
}

/// The proxy disk (/dev/vdd) equals the master over the whole volume.
fn proxy_equals_master(w: &W) -> bool {
    let c = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    let p = crate::proxy::find(&c[0].meta, "p1").unwrap();
    let crate::layout::Segment::Linear { extent } = &p.leg.segments[0] else {
        panic!("linear proxy leg expected");
    };
    let on_disk =
        w.d.read(
            std::path::Path::new("/dev/vdd"),
            Bytes(extent.offset.0 * 512),
            (64 * MIB) as usize,
        )
        .unwrap();
    on_disk == read(w, TOP, 0, (64 * MIB) as usize)
}

#[test]
fn join_part_rejoin_restore_break() {
    let mut w = world(&DISKS, 256);
    apply(&mut w, &class_with(None), false).unwrap();
    w.k.write_dev(TOP, Bytes(0), &vec![b'A'; (64 * MIB) as usize])
        .unwrap();

    // Join: slot 2 added with `rebuild 2`, full copy.
    apply(&mut w, &class_with(Some("joined")), false).unwrap();
    assert_eq!(
        named(&w, TOP),
        "0 131072 raid raid1 5 0 rebuild 2 region_size 128 3 dmclass-data-v1_rmeta_0 dmclass-data-v1_rimage_0 dmclass-data-v1_rmeta_1 dmclass-data-v1_rimage_1 dmclass-data-v1_rmeta_2 dmclass-data-v1_rimage_2"
    );
    assert!(proxy_equals_master(&w));
    assert_eq!(proxy_status(&w).state, "JOINED");
    // Re-applying the same file plans nothing.
    assert!(
        crate::plan::tests::plan_for(&w, &class_with(Some("joined")), false)
            .unwrap()
            .is_empty()
    );

    // Part read-only: slot 2 is `- -`, the proxy is its own (read-only) device.
    op(&mut w, ProxyOp::Part { readonly: true }).unwrap();
    assert_eq!(
        named(&w, TOP),
        "0 131072 raid raid1 3 0 region_size 128 3 dmclass-data-v1_rmeta_0 dmclass-data-v1_rimage_0 dmclass-data-v1_rmeta_1 dmclass-data-v1_rimage_1 - -"
    );
    assert!(w.k.info("dmclass-data-v1_rimage_2").unwrap().is_none());
    assert!(table(&w, PROXY).starts_with("0 131072 linear 252:32 "));
    assert!(
        w.k.write_dev(PROXY, Bytes(0), &[1; 512]).is_err(),
        "read-only proxy"
    );
    let st = proxy_status(&w);
    assert_eq!(
        (st.state.as_str(), st.rejoin.as_str()),
        ("PARTED", "incremental")
    );

    // Master changes; the proxy keeps the point-in-time data.
    scatter(&mut w, TOP, b'C');
    assert_eq!(read(&w, PROXY, 128 * 1024, 4096), vec![b'A'; 4096]);
    assert_eq!(read(&w, TOP, 128 * 1024, 4096), vec![b'C'; 4096]);

    // Rejoin (declarative): only the changed regions reach the proxy disk.
    w.d.reset_counters();
    apply(&mut w, &class_with(Some("joined")), false).unwrap();
    let written = w.d.bytes_written("/dev/vdd").unwrap().0;
    assert!(
        written >= MIB && written <= 4 * MIB,
        "rejoin wrote {written} bytes"
    );
    assert!(!named(&w, TOP).contains("rebuild"));
    assert!(w.k.info(PROXY).unwrap().is_none());
    assert!(proxy_equals_master(&w));

    // Part read-write (declarative), write D to the proxy: its writes are tracked
    // (the proxy device is a degraded raid1 over its image with a tracking rmeta).
    apply(&mut w, &class_with(Some("parted")), false).unwrap();
    assert_eq!(proxy_status(&w).rejoin, "incremental");
    // (first loaded with zero devices in slot 1, which the sim, like dm-raid, needs
    // for a blank tracking rmeta; they are gone once the degraded table is live)
    assert!(
        named(&w, PROXY).contains(
            "raid raid1 3 0 region_size 128 2 dmclass-data-p1_rmeta_0 dmclass-data-p1_rimage_0 - -"
        ),
        "{}",
        named(&w, PROXY)
    );
    assert!(w.k.info("dmclass-data-p1_rmeta_1").unwrap().is_none());
    assert!(w.k.info("dmclass-data-p1_rimage_1").unwrap().is_none());
    w.k.write_dev(PROXY, Bytes(0), &vec![b'D'; (2 * MIB) as usize])
        .unwrap();
    assert_eq!(read(&w, TOP, 0, 4096), vec![b'A'; 4096]);

    // Restore is refused while the master is open, with the reason.
    w.k.set_open_count(TOP, 1).unwrap();
    match op(&mut w, ProxyOp::Restore) {
        Err(EngineError::Refused { reason, .. }) => assert!(reason.contains("in use"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    w.k.set_open_count(TOP, 0).unwrap();
    // 1 MiB scattered on the master too: the restore copies the union of both sides'
    // changed regions proxy -> master (3 MiB here), not the 64 MiB volume.
    scatter(&mut w, TOP, b'M');
    let want = read(&w, PROXY, 0, (64 * MIB) as usize);
    w.d.reset_counters();
    let p = op(&mut w, ProxyOp::Restore).unwrap();
    assert!(p
        .actions
        .iter()
        .any(|a| a.object == PROXY && a.kind == crate::plan::ActionKind::Remove));
    assert!(p
        .actions
        .iter()
        .any(|a| a.kind == crate::plan::ActionKind::CopyRegions));
    assert_eq!(
        named(&w, TOP),
        "0 131072 raid raid1 3 0 region_size 128 3 dmclass-data-v1_rmeta_0 dmclass-data-v1_rimage_0 dmclass-data-v1_rmeta_1 dmclass-data-v1_rimage_1 dmclass-data-v1_rmeta_2 dmclass-data-v1_rimage_2"
    );
    for disk in ["/dev/vdb", "/dev/vdc"] {
        let written = w.d.bytes_written(disk).unwrap().0;
        assert!(
            (2 * MIB..=4 * MIB).contains(&written),
            "restore wrote {written} bytes to master disk {disk}"
        );
    }
    assert_eq!(read(&w, TOP, 0, (64 * MIB) as usize), want);
    assert_eq!(read(&w, TOP, 0, 4096), vec![b'D'; 4096]);
    assert!(proxy_equals_master(&w));
    assert_eq!(proxy_status(&w).state, "JOINED");

    // Part rw, 1 MiB scattered on each side, then rejoin: only the union of the
    // changed regions is written to the proxy disk.
    apply(&mut w, &class_with(Some("parted")), false).unwrap();
    scatter(&mut w, PROXY, b'F');
    for i in 0..16u64 {
        w.k.write_dev(TOP, Bytes(i * 4 * MIB + 2 * MIB), &[b'G'; 65536])
            .unwrap();
    }
    w.d.reset_counters();
    // Joining discards the proxy's own writes: only with allow_destroy, and noted.
    let e = apply(&mut w, &class_with(Some("joined")), false).unwrap_err();
    assert!(e.to_string().contains("--allow-destroy"), "{e}");
    assert_eq!(w.d.bytes_written("/dev/vdd").unwrap().0, 0);
    let p = apply(&mut w, &class_with(Some("joined")), true).unwrap();
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("destroys the proxy's own writes")),
        "{:?}",
        p.notes
    );
    // Crash safety: the intent write records the leg `COPY` (a stop before the copy
    // ends is finished as a full rebuild), the copy runs, then a write marks it ACTIVE.
    let kinds: Vec<crate::plan::ActionKind> = p.actions.iter().map(|a| a.kind).collect();
    let copy = kinds
        .iter()
        .position(|k| *k == crate::plan::ActionKind::CopyRegions)
        .expect("a copy_regions action");
    let metas: Vec<usize> = (0..kinds.len())
        .filter(|&i| kinds[i] == crate::plan::ActionKind::WriteMetadata)
        .collect();
    assert!(metas.first().is_some_and(|&m| m < copy), "{kinds:?}");
    assert!(metas.iter().any(|&m| m == copy + 1), "{kinds:?}");
    assert!(!named(&w, TOP).contains("rebuild"), "{}", named(&w, TOP));
    let written = w.d.bytes_written("/dev/vdd").unwrap().0;
    assert!(
        (2 * MIB..=4 * MIB).contains(&written),
        "rejoin wrote {written} bytes"
    );
    assert!(proxy_equals_master(&w));
    assert_eq!(read(&w, TOP, 128 * 1024, 4096), vec![b'D'; 4096]);
    assert!(w.k.info("dmclass-data-p1_rmeta_0").unwrap().is_none());

    // Export round trip: the proxy is in the file, re-applying changes nothing.
    let classes = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    let cfg = crate::export::export(&classes[0].meta).unwrap();
    let text = dmclass_model::to_yaml(&cfg);
    assert!(text.contains("type: proxy"), "{text}");

    // Break a joined proxy: the master drops slot 2, p1 is a volume with the data.
    op(&mut w, ProxyOp::Break).unwrap();
    assert!(named(&w, TOP).ends_with("3 0 region_size 128 2 dmclass-data-v1_rmeta_0 dmclass-data-v1_rimage_0 dmclass-data-v1_rmeta_1 dmclass-data-v1_rimage_1"));
    assert_eq!(read(&w, PROXY, 0, 4096), vec![b'D'; 4096]);
    w.k.write_dev(TOP, Bytes(0), &[b'E'; 4096]).unwrap();
    assert_eq!(read(&w, PROXY, 0, 4096), vec![b'D'; 4096]);
}

#[test]
fn planner_refusals() {
    let mut w = world(&DISKS, 256);
    apply(&mut w, &class_with(None), false).unwrap();
    // A new proxy must be joined first.
    let e = apply(&mut w, &class_with(Some("parted")), false).unwrap_err();
    assert!(e.to_string().contains("joined first"), "{e}");
    apply(&mut w, &class_with(Some("joined")), false).unwrap();
    // Dropping it from the file is refused (break is explicit).
    let e = apply(&mut w, &class_with(None), false).unwrap_err();
    assert!(e.to_string().contains("proxy break"), "{e}");
    // Rejoin / restore of a joined proxy are refused.
    assert!(op(&mut w, ProxyOp::Rejoin).is_err());
    assert!(op(&mut w, ProxyOp::Restore).is_err());
    // Part while the copy runs is refused by the sync check.
    w.k.set_sync(
        TOP,
        dmclass_model::Sectors(10),
        dmclass_model::Sectors(131_072),
    )
    .unwrap();
    let classes = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    let e = crate::proxy::check_in_sync(&w.k, &classes[0].meta, "p1").unwrap_err();
    assert!(e.to_string().contains("not finished"), "{e}");
    // ... and the executor refuses such a part before its first action: the
    // metadata still says joined and no proxy device appeared.
    let gen = classes[0].meta.generation;
    let e = op(&mut w, ProxyOp::Part { readonly: false }).unwrap_err();
    assert!(e.to_string().contains("not finished"), "{e}");
    let after = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    assert_eq!(
        after[0].meta.generation, gen,
        "a refused part writes no metadata"
    );
    assert!(w.k.info(PROXY).unwrap().is_none(), "no proxy device");
}

/// A join cut before its last metadata write leaves the proxy's leg recorded `COPY`
/// although the kernel finished the copy (the next activation rebuilt it): the part
/// leaves the slot out without `rebuild` for it (dm-raid refuses that), and records
/// the leg complete.
#[test]
fn a_part_after_a_join_cut_before_its_last_write() {
    let mut w = world(&DISKS, 256);
    apply(&mut w, &class_with(None), false).unwrap();
    w.k.write_dev(TOP, Bytes(0), &vec![b'J'; (64 * MIB) as usize])
        .unwrap();
    apply(&mut w, &class_with(Some("joined")), false).unwrap();
    let classes = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    let mut meta = classes[0].meta.clone();
    for s in &mut meta.snapshots {
        if let Some(l) = crate::plan::proxy_track::leg_mut(s) {
            l.state = crate::layout::SliceState::Copy;
        }
    }
    meta.generation += 1;
    let present: std::collections::BTreeMap<String, std::path::PathBuf> =
        w.b.iter()
            .map(|b| (b.name.clone(), b.path.clone()))
            .collect();
    crate::metadata::write_present(&meta, &present, &mut w.d).unwrap();
    op(&mut w, ProxyOp::Part { readonly: false }).unwrap();
    let t = named(&w, TOP);
    assert!(!t.contains("rebuild"), "{t}");
    assert!(t.contains("- -"), "{t}");
    assert_eq!(read(&w, PROXY, 0, 4096), vec![b'J'; 4096]);
    let classes = crate::assemble::group_classes(&crate::assemble::scan(&w.d.paths(), &w.d).found);
    let p = crate::proxy::find(&classes[0].meta, "p1").unwrap();
    assert_eq!(p.leg.state, crate::layout::SliceState::Active);
}
