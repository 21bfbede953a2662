//! Crash safety on the simulation: every failpoint of create-volume, grow, add-leg and
//! remove-volume, with and without a power cut, then scan + activate + re-apply.
#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

use super::execute_with;
use super::failpoint::{names, ErrorHook, Failpoint, Failpoints, Select, When};
use crate::assemble::recover::activate_recovering;
use crate::assemble::{group_classes, scan, ClassOnDisks};
use crate::io::{Disks as _, Kernel as _};
use crate::layout::SliceState;
use crate::metadata::{IntentOp, VolumeMeta};
use crate::plan::tests::{apply, plan_for, v1, world, yaml, W};
use crate::plan::{ActionKind, DiskBinding};
use crate::EngineError;
use dmclass_model::{Bytes, Class};

const TOP: &str = "dmclass-data-v1";

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 4096) % 251).unwrap())
        .collect()
}

fn found(w: &W) -> Vec<ClassOnDisks> {
    group_classes(&scan(&w.d.paths(), &w.d).found)
}

fn bound(w: &W, c: &Class) -> Vec<DiskBinding> {
    w.b.iter()
        .filter(|b| c.disks.iter().any(|d| d.name.as_str() == b.name))
        .cloned()
        .collect()
}

/// The top device's size equals the recorded size of volume `v`.
fn consistent(w: &W, v: &VolumeMeta) {
    let top = format!("dmclass-data-{}", v.name);
    let t = w.k.table(&top).unwrap();
    let len: u64 = t.iter().map(|l| l.len.0).sum();
    assert_eq!(len, v.size.0, "{top}: table {t:?} vs recorded {}", v.size.0);
}

struct Case {
    name: &'static str,
    disks: &'static [&'static str],
    base: Class,
    target: Class,
    destroy: bool,
    /// Checks the recovered class (its newest description).
    check: fn(&W, &ClassOnDisks),
}

/// Run `case` with every `action:N` and `mid:write_metadata:N` failpoint, killed
/// (kernel kept) and with a power cut.
fn run(case: &Case) -> usize {
    let data = pattern(192 * 1024);
    let mut w = world(case.disks, 128);
    apply(&mut w, &case.base, false).unwrap();
    let plan = plan_for(&w, &case.target, case.destroy).unwrap();
    let points: Vec<String> = names(&plan)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("action:") || n.starts_with("mid:"))
        .collect();
    assert!(points.len() > plan.actions.len(), "{points:?}");
    let mut runs = 0;
    for point in &points {
        for power_cut in [false, true] {
            let ctx = format!("{} at {point} (power cut: {power_cut})", case.name);
            let mut w = world(case.disks, 128);
            apply(&mut w, &case.base, false).unwrap();
            w.k.write_dev(TOP, Bytes(8192), &data).unwrap();
            let p = plan_for(&w, &case.target, case.destroy).unwrap();
            assert_eq!(
                p.actions.len(),
                plan.actions.len(),
                "{ctx}: deterministic plan"
            );
            let mut hook = ErrorHook;
            let mut fp = Failpoints::armed(point, &mut hook).unwrap();
            let b = bound(&w, &case.target);
            let err = execute_with(&p, &b, &mut w.k, &mut w.d, &mut |_| {}, &mut fp).unwrap_err();
            assert!(
                matches!(&err, EngineError::Failpoint { name } if name == point),
                "{ctx}: {err}"
            );
            if power_cut {
                w.k.reboot();
            }
            let classes = found(&w);
            assert_eq!(classes.len(), 1, "{ctx}");
            let r = activate_recovering(&classes[0], &mut w.k, &mut w.d, &mut |_| {})
                .unwrap_or_else(|e| panic!("{ctx}: activate: {e}"));
            assert!(r.skipped.is_empty(), "{ctx}: {r:?}");
            let after = found(&w);
            let c = &after[0];
            assert!(
                c.meta.intent.is_none(),
                "{ctx}: intent left: {:?}",
                c.meta.intent
            );
            assert!(c.stale.is_empty(), "{ctx}: stale disks {:?}", c.stale);
            assert_eq!(
                w.k.read_dev(TOP, Bytes(8192), data.len()).unwrap(),
                data,
                "{ctx}: data of v1"
            );
            for v in &c.meta.volumes {
                consistent(&w, v);
            }
            (case.check)(&w, c);
            // Re-apply converges; a second plan is empty; data still there.
            let p2 = plan_for(&w, &case.target, case.destroy)
                .unwrap_or_else(|e| panic!("{ctx}: re-plan: {e}"));
            let b = bound(&w, &case.target);
            super::execute(&p2, &b, &mut w.k, &mut w.d, &mut |_| {})
                .unwrap_or_else(|e| panic!("{ctx}: re-apply: {e}"));
            assert!(
                plan_for(&w, &case.target, case.destroy).unwrap().is_empty(),
                "{ctx}: plan after re-apply"
            );
            assert_eq!(
                w.k.read_dev(TOP, Bytes(8192), data.len()).unwrap(),
                data,
                "{ctx}: data after re-apply"
            );
            runs += 1;
        }
    }
    runs
}

fn two_volumes(size1: &str) -> String {
    format!("{}      - {{name: v2, on: m, size: 8MiB}}\n", v1(size1))
}

#[test]
fn create_volume_survives_a_crash_at_every_step() {
    let n = run(&Case {
        name: "create-volume",
        disks: &["d1", "d2"],
        base: yaml(&["d1", "d2"], &v1("16MiB")),
        target: yaml(&["d1", "d2"], &two_volumes("16MiB")),
        destroy: false,
        check: |w, c| {
            // Either fully there (device at the recorded size) or absent.
            match c.meta.volume("v2") {
                Some(_) => assert!(w.k.info("dmclass-data-v2").unwrap().is_some()),
                None => assert!(w.k.info("dmclass-data-v2").unwrap().is_none()),
            }
        },
    });
    assert!(n >= 2 * 20, "{n} runs");
}

#[test]
fn grow_survives_a_crash_at_every_step() {
    run(&Case {
        name: "grow",
        disks: &["d1", "d2"],
        base: yaml(&["d1", "d2"], &v1("16MiB")),
        target: yaml(&["d1", "d2"], &v1("24MiB")),
        destroy: false,
        check: |_, c| {
            let s = c.meta.volume("v1").unwrap().size.0;
            assert!(s == 16 * 2048 || s == 24 * 2048, "{s}");
        },
    });
}

#[test]
fn add_leg_survives_a_crash_at_every_step() {
    let three = v1("16MiB").replace("members: [d1, d2]", "members: [d1, d2, d3]");
    run(&Case {
        name: "add-leg",
        disks: &["d1", "d2", "d3"],
        base: yaml(&["d1", "d2"], &v1("16MiB")),
        target: yaml(&["d1", "d2", "d3"], &three),
        destroy: false,
        check: |w, c| {
            let v = c.meta.volume("v1").unwrap();
            let legs = v.layout.legs.len();
            assert!(legs == 2 || legs == 3, "{legs}");
            // Recorded legs are all in the live table, and none is left COPY once
            // the rebuild was started by the recovery.
            let t = w.k.table(TOP).unwrap();
            assert!(t[0].params.contains(&format!(" {legs} ")), "{t:?}");
            assert!(v.layout.legs.iter().all(|l| l.state == SliceState::Active));
        },
    });
}

#[test]
fn remove_volume_survives_a_crash_at_every_step() {
    run(&Case {
        name: "remove-volume",
        disks: &["d1", "d2"],
        base: yaml(&["d1", "d2"], &two_volumes("16MiB")),
        target: yaml(&["d1", "d2"], &v1("16MiB")),
        destroy: true,
        check: |w, c| match c.meta.volume("v2") {
            Some(_) => assert!(w.k.info("dmclass-data-v2").unwrap().is_some()),
            None => assert!(
                w.k.list().unwrap().iter().all(|i| !i.name.contains("-v2")),
                "v2 devices left"
            ),
        },
    });
}

#[test]
fn intent_is_recorded_before_the_first_kernel_change_and_cleared_last() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &yaml(&["d1", "d2"], &two_volumes("16MiB")), false).unwrap();
    for (target, destroy, op) in [
        (v1("16MiB"), true, IntentOp::RemoveVolume),
        (two_volumes("24MiB"), false, IntentOp::Grow),
    ] {
        let p = plan_for(&w, &yaml(&["d1", "d2"], &target), destroy).unwrap();
        let first_kernel = p
            .actions
            .iter()
            .position(|a| {
                !matches!(
                    a.kind,
                    ActionKind::ZeroExtent | ActionKind::WriteMetadata | ActionKind::FormatArea
                )
            })
            .unwrap();
        let metas: Vec<(usize, std::borrow::Cow<'_, crate::metadata::ClassMeta>)> = p
            .actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((i, a.step.written_meta()?)))
            .collect();
        let (i0, m0) = &metas[0];
        assert!(*i0 < first_kernel, "{op}: {:?}", p.render());
        let intent = m0.intent.as_ref().unwrap();
        assert_eq!(intent.op, op);
        assert_eq!(intent.from_generation, p.based_on_generation.unwrap());
        let (il, ml) = metas.last().unwrap();
        assert_eq!(*il, p.actions.len() - 1);
        assert!(ml.intent.is_none());
        assert_eq!(ml.generation, intent.to_generation);
        let gens: Vec<u64> = metas.iter().map(|(_, m)| m.generation).collect();
        assert!(gens.windows(2).all(|g| g[1] == g[0] + 1), "{gens:?}");
        assert_eq!(gens[0], intent.from_generation + 1);
    }
}

#[test]
fn apply_over_a_pending_intent_is_refused_until_activate() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &yaml(&["d1", "d2"], &v1("16MiB")), false).unwrap();
    let target = yaml(&["d1", "d2"], &v1("24MiB"));
    let p = plan_for(&w, &target, false).unwrap();
    let mut hook = ErrorHook;
    let mut fp = Failpoints::armed("before:suspend", &mut hook).unwrap();
    let b = bound(&w, &target);
    execute_with(&p, &b, &mut w.k, &mut w.d, &mut |_| {}, &mut fp).unwrap_err();
    match plan_for(&w, &target, false) {
        Err(EngineError::Refused { reason, .. }) => {
            assert!(
                reason.contains("interrupted apply") && reason.contains("grow v1"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let st = crate::state::class_status(&found(&w)[0].meta, &found(&w)[0].present, &w.k).unwrap();
    assert!(st.pending_intent.unwrap().contains("grow v1"));
    let r = activate_recovering(&found(&w)[0], &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert!(
        r.warnings.iter().any(|m| m.contains("interrupted apply")),
        "{r:?}"
    );
    assert!(plan_for(&w, &target, false).unwrap().is_empty());
}

#[test]
fn split_generation_is_repaired_with_a_warning() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &yaml(&["d1", "d2"], &v1("16MiB")), false).unwrap();
    let target = yaml(&["d1", "d2"], &two_volumes("16MiB"));
    let p = plan_for(&w, &target, false).unwrap();
    let mut hook = ErrorHook;
    let mut fp = Failpoints::armed("mid:write_metadata:1", &mut hook).unwrap();
    let b = bound(&w, &target);
    execute_with(&p, &b, &mut w.k, &mut w.d, &mut |_| {}, &mut fp).unwrap_err();
    w.k.reboot();
    let c = &found(&w)[0];
    assert_eq!(c.stale.len(), 1, "{c:?}");
    let r = activate_recovering(c, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|m| m.contains("interrupted between disks") && m.contains("rewritten")),
        "{r:?}"
    );
    let c = &found(&w)[0];
    assert!(c.stale.is_empty());
    assert!(c.present.iter().all(|p| p.generation == c.meta.generation));
}

#[test]
fn closed_class_refuses_activate_and_apply_and_status_says_why() {
    let three = v1("16MiB").replace("members: [d1, d2]", "members: [d1, d2, d3]");
    let c3 = yaml(&["d1", "d2", "d3"], &three);
    let mut w = world(&["d1", "d2", "d3"], 128);
    apply(&mut w, &c3, false).unwrap();
    w.k.reboot();
    // Damage the private areas of d2 and d3: 1 of 3 copies readable -> closed.
    for b in &w.b[1..] {
        w.d.write(&b.path, Bytes(0), &vec![0xa5; 32 << 20]).unwrap();
    }
    let c = &found(&w)[0];
    let st = crate::state::class_status(&c.meta, &c.present, &w.k).unwrap();
    assert!(st.closed);
    assert!(
        st.closed_reason.as_deref().unwrap().contains("1 of 3"),
        "{st:?}"
    );
    let err = activate_recovering(c, &mut w.k, &mut w.d, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("class closed"), "{err}");
    let err = crate::assemble::activate(c, &mut w.k, &w.d, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("FewDB"), "{err}");
    assert!(w.k.list().unwrap().is_empty());
    let err = plan_for(&w, &c3, false).unwrap_err();
    assert!(err.to_string().contains("class closed"), "{err}");
}

#[test]
fn failpoint_names_parse_and_select() {
    assert_eq!(Failpoint::parse("action:3").unwrap(), Failpoint::Action(3));
    assert_eq!(
        Failpoint::parse("before:resume:dmclass-data-v1").unwrap(),
        Failpoint::At {
            when: When::Before,
            kind: ActionKind::Resume,
            select: Select::Object("dmclass-data-v1".into())
        }
    );
    assert_eq!(
        Failpoint::parse("after:write_metadata").unwrap(),
        Failpoint::At {
            when: When::After,
            kind: ActionKind::WriteMetadata,
            select: Select::Nth(1)
        }
    );
    for bad in [
        "",
        "action",
        "action:0",
        "action:x",
        "action:1:2",
        "sideways:load",
        "after:jump",
        "mid:load",
        "after:load:0",
        "after:load:",
    ] {
        assert!(
            matches!(Failpoint::parse(bad), Err(EngineError::BadFailpoint { .. })),
            "{bad:?}"
        );
    }
    // Object and ordinal selection against a real plan.
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &yaml(&["d1", "d2"], &v1("16MiB")), false).unwrap();
    let p = plan_for(&w, &yaml(&["d1", "d2"], &v1("24MiB")), false).unwrap();
    let i = p
        .actions
        .iter()
        .position(|a| a.kind == ActionKind::Resume && a.object == TOP)
        .unwrap();
    let fp = Failpoint::parse(&format!("before:resume:{TOP}")).unwrap();
    assert!(fp.hits(&p, i, When::Before));
    assert!(!fp.hits(&p, i, When::After));
    assert_eq!(
        (0..p.actions.len())
            .filter(|j| fp.hits(&p, *j, When::Before))
            .count(),
        1
    );
    let fp = Failpoint::parse("after:write_metadata:2").unwrap();
    let hits: Vec<usize> = (0..p.actions.len())
        .filter(|j| fp.hits(&p, *j, When::After))
        .collect();
    assert_eq!(hits, [p.actions.len() - 1], "the clearing write is the 2nd");
    // A failpoint naming no action never fires: the apply completes.
    let mut hook = ErrorHook;
    let mut fp = Failpoints::armed("before:remove:7", &mut hook).unwrap();
    let b = w.b.clone();
    execute_with(&p, &b, &mut w.k, &mut w.d, &mut |_| {}, &mut fp).unwrap();
    assert_eq!(w.k.table(TOP).unwrap()[0].len.0, 24 * 2048);
}
