//! A root class with a boot-environment group: the conversion formats its disks as
//! whole-disk members (no partition table, no ESP), the first activation leaves them
//! alone, and a proxy of a system volume joins there, copies, and parts as a
//! point-in-time copy of the running root.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::many_single_char_names,
    clippy::format_push_string
)]

use super::tests_convert::{read, run, MIB, ROOT};
use crate::assemble::{activate, group_classes, scan};
use crate::exec::execute;
use crate::gpt::{read_gpt, GptOnDisk};
use crate::io::Kernel as _;
use crate::plan::read_actual;
use crate::plan::tests::{class, plan_for, W};
use crate::plan::{plan_proxy, ActionKind, PlanOptions, ProxyOp};
use dmclass_model::{Bytes, Class};

const TOP: &str = "dmclass-sys-root";
const PROXY: &str = "dmclass-sys-upgrade";

fn env_yaml(proxy: Option<&str>) -> Class {
    env_yaml_named("upgrade", proxy)
}

fn env_yaml_named(name: &str, proxy: Option<&str>) -> Class {
    let mut s = String::from(
        "  - name: sys\n    type: root\n    disks:\n      \
         - {name: sys1, device: /dev/disk/by-id/virtio-sys1, role: keep}\n      \
         - {name: sys2, device: /dev/disk/by-id/virtio-sys2}\n      \
         - {name: be1, device: /dev/disk/by-id/virtio-be1}\n    groups:\n      \
         - {name: m, type: mirror, members: [sys1, sys2]}\n      \
         - {name: envs, type: mirror, members: [be1]}\n    volumes:\n      \
         - {name: root, on: m}\n",
    );
    if let Some(state) = proxy {
        s.push_str(&format!(
            "    snapshots:\n      - {{name: {name}, type: proxy, origin: root, on: envs, state: {state}}}\n"
        ));
    }
    class(&s)
}

/// Converted and activated: the root runs on the class.
fn converted() -> W {
    let mut w = super::tests_convert::machine_with(&["sys1", "sys2", "be1"]);
    let p = plan_for(&w, &env_yaml(None), false).unwrap();
    let on_be1: Vec<ActionKind> = p
        .actions
        .iter()
        .filter(|a| a.object == "be1")
        .map(|a| a.kind)
        .collect();
    assert_eq!(on_be1, vec![ActionKind::FormatArea], "{:#?}", p.actions);
    assert_eq!(
        p.actions[0].object.to_string(),
        "be1",
        "the environment disk first: nothing of the system is on it"
    );
    run(&mut w, &p);
    assert!(matches!(
        read_gpt(&w.d, &w.b[2].path).unwrap(),
        GptOnDisk::None
    ));
    assert!(plan_for(&w, &env_yaml(None), false).unwrap().is_empty());
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].present.len(), 3, "be1 is a member");
    activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    w
}

#[test]
fn a_proxy_of_the_root_joins_on_the_environment_disk_and_parts_as_a_copy() {
    let mut w = converted();
    let before = read(&w, 0, ROOT.0, ROOT.1);
    // Join (the declarative path `dmclass proxy join` takes): a full copy.
    let p = plan_for(&w, &env_yaml(Some("joined")), false).unwrap();
    assert!(
        p.actions.iter().all(|a| a.object != "sys1"
            || !matches!(
                a.kind,
                ActionKind::WritePartitionTable | ActionKind::FormatArea
            )),
        "the running system disk is not rewritten: {:#?}",
        p.actions
    );
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert!(plan_for(&w, &env_yaml(Some("joined")), false)
        .unwrap()
        .is_empty());
    let len = ((ROOT.1 - ROOT.0) * MIB) as usize;
    // Part: the proxy is its own device holding the root's data at that point.
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let p = plan_proxy(
        &env_yaml(Some("joined")),
        &w.b,
        &a,
        "upgrade",
        ProxyOp::Part { readonly: false },
        &PlanOptions::default(),
    )
    .unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert_eq!(w.k.read_dev(PROXY, Bytes(0), len).unwrap(), before);
    // The root changes; the environment does not, and vice versa.
    w.k.write_dev(TOP, Bytes(0), &[b'R'; 4096]).unwrap();
    w.k.write_dev(PROXY, Bytes(8192), &[b'E'; 4096]).unwrap();
    assert_eq!(w.k.read_dev(PROXY, Bytes(0), 4096).unwrap(), before[..4096]);
    assert_eq!(
        w.k.read_dev(TOP, Bytes(8192), 4096).unwrap(),
        before[8192..12288]
    );
    // Neither system disk holds anything of the environment's writes.
    assert_eq!(read(&w, 1, ROOT.0, ROOT.0 + 1)[..4096], [b'R'; 4096]);
    assert_eq!(
        read(&w, 0, ROOT.0, ROOT.0 + 1)[8192..12288],
        before[8192..12288]
    );
}

fn with_cow(mut c: Class) -> Class {
    let s = class(
        "  - name: x\n    type: local\n    disks:\n      - {name: d, device: /dev/disk/by-id/virtio-d, role: single}\n    \
         volumes:\n      - {name: root, on: d, size: 8MiB}\n    snapshots:\n      \
         - {name: pre, type: cow, origin: root, size: 8MiB}\n",
    );
    c.snapshots = s.snapshots;
    c
}

#[test]
fn nothing_is_allocated_on_the_system_disks_outside_the_conversion() {
    // Without an environment disk: the ESPs and tables are no free space.
    let mut w = super::tests_convert::machine();
    let plain = super::tests_convert::root_yaml("      - {name: root, on: m}\n");
    let p = plan_for(&w, &plain, false).unwrap();
    run(&mut w, &p);
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    let e = plan_for(&w, &with_cow(plain), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pre") || e.contains("space"), "{e}");
    // With one: the store goes there.
    let mut w = converted();
    let p = plan_for(&w, &with_cow(env_yaml(None)), false).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    let stores: Vec<String> = crate::cow::store_extents(&found[0].meta)
        .into_iter()
        .map(|e| e.disk.clone())
        .collect();
    assert_eq!(stores, vec!["be1".to_owned()]);
}

fn table_of(w: &W, name: &str) -> String {
    w.k.table(name)
        .unwrap()
        .first()
        .map(|l| l.target.clone())
        .unwrap_or_default()
}

fn activate_now(w: &mut W) {
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
}

#[test]
fn a_root_snapshot_is_merged_back_at_the_next_boot_and_a_running_merge_is_left_alone() {
    use crate::plan::{plan_finish, plan_merge, plan_merge_cancel};
    let mut w = converted();
    let c = with_cow(env_yaml(None));
    let p = plan_for(&w, &c, false).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    let snap = "dmclass-sys-pre";
    let len = 16384;
    let before = w.k.read_dev(TOP, Bytes(0), len).unwrap();
    // The root is mounted and changes after the snapshot.
    w.k.set_open_count(TOP, 1).unwrap();
    w.k.write_dev(TOP, Bytes(0), &[b'X'; 16384]).unwrap();
    let request = |w: &mut W| {
        let a = read_actual(&w.b, &w.d, &w.k).unwrap();
        let p = plan_merge(&c, &w.b, &a, "pre", &PlanOptions::default()).unwrap();
        assert!(
            p.notes.iter().any(|n| n.contains("at the next boot")),
            "{:?}",
            p.notes
        );
        let b = w.b.clone();
        execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    };
    request(&mut w);
    // Nothing changes while the system runs, also when activation runs again.
    activate_now(&mut w);
    assert_eq!(table_of(&w, TOP), "snapshot-origin");
    assert_eq!(w.k.read_dev(TOP, Bytes(0), len).unwrap(), [b'X'; 16384]);
    assert_eq!(w.k.read_dev(snap, Bytes(0), len).unwrap(), before);
    // Withdrawn, and requested again.
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let p = plan_merge_cancel(&c, &w.b, &a, "pre").unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert_eq!(
        crate::cow::find(&newest(&w), "pre").unwrap().state,
        crate::metadata::CowState::Active
    );
    request(&mut w);
    // The next boot: the initramfs activates the closed root; the merge starts.
    w.k.reboot();
    w.k.hold_merges(true);
    activate_now(&mut w);
    assert_eq!(table_of(&w, TOP), "snapshot-merge");
    assert!(w.k.info(snap).unwrap().is_none());
    // The root is mounted; activating again (the boot's own activation) keeps the
    // merge running, and it cannot be withdrawn.
    w.k.set_open_count(TOP, 1).unwrap();
    activate_now(&mut w);
    assert_eq!(table_of(&w, TOP), "snapshot-merge");
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let e = plan_merge_cancel(&c, &w.b, &a, "pre")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be withdrawn"), "{e}");
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    assert!(plan_finish(&c, &w.b, &a, &w.k).unwrap().is_none());
    // The kernel finishes; the snapshot leaves, the root reads the snapshot's data.
    w.k.hold_merges(false);
    w.k.run_merges().unwrap();
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let p = plan_finish(&c, &w.b, &a, &w.k).unwrap().unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert!(crate::cow::find(&newest(&w), "pre").is_none());
    assert_ne!(table_of(&w, TOP), "snapshot-merge");
    assert_eq!(w.k.read_dev(TOP, Bytes(0), len).unwrap(), before);
    w.k.reboot();
    activate_now(&mut w);
    assert_eq!(w.k.read_dev(TOP, Bytes(0), len).unwrap(), before);
}

fn newest(w: &W) -> crate::metadata::ClassMeta {
    group_classes(&scan(&w.d.paths(), &w.d).found)[0]
        .meta
        .clone()
}

fn write(w: &mut W, m: &crate::metadata::ClassMeta) {
    let present: crate::root::undo::Present =
        w.b.iter()
            .map(|b| (b.name.clone(), b.path.clone()))
            .collect();
    crate::metadata::write_present(m, &present, &mut w.d).unwrap();
}

fn proxy_op(w: &mut W, c: &Class, name: &str, op: ProxyOp) -> crate::Result<()> {
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let p = plan_proxy(c, &w.b, &a, name, op, &PlanOptions::default())?;
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {})?;
    Ok(())
}

/// What `bootenv create upgrade` does: join, record `creating`, part, record `ready`.
/// The class with the joined proxy (what the proxy operations plan against).
fn created_upgrade(w: &mut W) -> Class {
    use crate::bootenv::{recorded, BootEnvMeta, BootEnvState, EnvVolume};
    let joined = env_yaml_named("upgrade-root", Some("joined"));
    let p = plan_for(w, &joined, false).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    let mut env = BootEnvMeta {
        name: "upgrade".into(),
        created: 1,
        volumes: vec![EnvVolume {
            volume: "root".into(),
            proxy: "upgrade-root".into(),
        }],
        root: Some("upgrade-root".into()),
        state: BootEnvState::Creating,
        promote: false,
    };
    let m = recorded(&newest(w), env.clone());
    write(w, &m);
    proxy_op(
        w,
        &joined,
        "upgrade-root",
        ProxyOp::Part { readonly: false },
    )
    .unwrap();
    env.state = BootEnvState::Ready;
    let m = recorded(&newest(w), env);
    write(w, &m);
    joined
}

#[test]
fn an_environment_is_kept_by_the_file_guarded_from_proxy_commands_then_removed() {
    use crate::bootenv::forgotten;
    let mut w = converted();
    let before = read(&w, 0, ROOT.0, ROOT.1);
    let joined = created_upgrade(&mut w);
    let len = ((ROOT.1 - ROOT.0) * MIB) as usize;
    assert_eq!(
        w.k.read_dev("dmclass-sys-upgrade--root", Bytes(0), len)
            .unwrap(),
        before
    );
    // The admin's file, which lists no proxy, plans nothing: the environment stays.
    let file = env_yaml(None);
    assert!(plan_for(&w, &file, false).unwrap().is_empty());
    assert_eq!(newest(&w).boot_envs.len(), 1);
    // The proxy commands leave it alone.
    let e = proxy_op(&mut w, &joined, "upgrade-root", ProxyOp::Rejoin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bootenv remove upgrade"), "{e}");
    // `bootenv remove`: forget, break, remove the broken-off volume.
    let m = forgotten(&newest(&w), "upgrade");
    write(&mut w, &m);
    proxy_op(&mut w, &joined, "upgrade-root", ProxyOp::Break).unwrap();
    let p = plan_for(&w, &file, true).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    let m = newest(&w);
    assert!(m.boot_envs.is_empty() && m.snapshots.is_empty(), "{m:?}");
    assert_eq!(m.volumes.len(), 1);
    assert!(w.k.table("dmclass-sys-upgrade--root").is_err());
    assert!(plan_for(&w, &file, false).unwrap().is_empty());
    assert_eq!(read(&w, 0, ROOT.0, ROOT.1), before, "the root is untouched");
}

#[test]
fn an_environment_made_the_primary_is_restored_onto_the_root_and_removed() {
    use crate::bootenv::{forgotten, with_promote};
    let mut w = converted();
    let joined = created_upgrade(&mut w);
    // The upgrade, inside the environment: 1 MiB of its root changed.
    let copy = "dmclass-sys-upgrade--root";
    w.k.write_dev(copy, Bytes(4 * MIB), &vec![b'U'; MIB as usize])
        .unwrap();
    let len = ((ROOT.1 - ROOT.0) * MIB) as usize;
    let upgraded = w.k.read_dev(copy, Bytes(0), len).unwrap();
    assert_ne!(w.k.read_dev(TOP, Bytes(0), len).unwrap(), upgraded);
    // Without the promotion recorded, restoring an environment's proxy is refused.
    let e = proxy_op(&mut w, &joined, "upgrade-root", ProxyOp::Restore)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bootenv remove upgrade"), "{e}");
    // Recorded (`bootenv promote`), then at the next boot: restored onto the root,
    // copying what differs only.
    let m = with_promote(&newest(&w), "upgrade", true);
    write(&mut w, &m);
    w.d.reset_counters();
    proxy_op(&mut w, &joined, "upgrade-root", ProxyOp::Restore).unwrap();
    assert_eq!(w.k.read_dev(TOP, Bytes(0), len).unwrap(), upgraded);
    for disk in [&w.b[0].path, &w.b[1].path] {
        let written = w.d.bytes_written(disk.display().to_string()).unwrap().0;
        assert!(
            written <= 2 * MIB,
            "{}: {written} bytes written for 1 MiB changed",
            disk.display()
        );
    }
    // ... then removed as `bootenv remove` does: the root keeps the upgrade.
    let m = forgotten(&newest(&w), "upgrade");
    write(&mut w, &m);
    proxy_op(&mut w, &joined, "upgrade-root", ProxyOp::Break).unwrap();
    let p = plan_for(&w, &env_yaml(None), true).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    let m = newest(&w);
    assert!(m.boot_envs.is_empty() && m.snapshots.is_empty(), "{m:?}");
    assert!(w.k.table(copy).is_err());
    assert_eq!(w.k.read_dev(TOP, Bytes(0), len).unwrap(), upgraded);
}

#[test]
fn a_missing_store_disk_costs_the_snapshot_not_the_boot_but_a_merge_waits_for_it() {
    use crate::assemble::recover::activate_recovering;
    use crate::metadata::CowState;
    let mut w = converted();
    let c = with_cow(env_yaml(None));
    let p = plan_for(&w, &c, false).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    w.k.write_dev(TOP, Bytes(0), &[b'N'; 4096]).unwrap();
    let now = w.k.read_dev(TOP, Bytes(0), 65536).unwrap();
    // A requested rollback and the store's only disk gone at boot: the root is not
    // started (it may be half-merged), with the reason.
    w.k.set_open_count(TOP, 1).unwrap();
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let p = crate::plan::plan_merge(&c, &w.b, &a, "pre", &PlanOptions::default()).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    w.k.reboot();
    let be1 = w.b[2].path.clone();
    w.d.remove_disk(&be1).unwrap();
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    let r = activate_recovering(&found[0], &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert!(r.started.is_empty(), "{r:?}");
    assert!(
        r.skipped
            .iter()
            .any(|(v, why)| v == "root" && why.contains("half-merged")),
        "{r:?}"
    );
    assert!(w.k.info(TOP).unwrap().is_none());
    assert_eq!(
        crate::cow::find(&newest(&w), "pre").unwrap().state,
        CowState::Merging,
        "nothing recorded"
    );
    // Withdrawn (as if before the reboot): an active snapshot with its store missing.
    let mut m = newest(&w);
    crate::cow::set_state(&mut m, "pre", CowState::Active);
    m.generation += 1;
    write(&mut w, &m);
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    // Activation alone does not start the origin without it...
    let r = activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert!(
        r.skipped
            .iter()
            .any(|(v, why)| v == "root" && why.contains("records the snapshot INVALID")),
        "{r:?}"
    );
    // ...`dmclass activate` records it INVALID and starts the root without it.
    let r = activate_recovering(&found[0], &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    assert_eq!(r.started, vec!["root".to_owned()], "{r:?}");
    assert!(
        r.warnings.iter().any(|x| x.contains("recorded INVALID")),
        "{r:?}"
    );
    assert!(w.k.read_dev(TOP, Bytes(0), 65536).unwrap() == now);
    assert_eq!(
        crate::cow::find(&newest(&w), "pre").unwrap().state,
        CowState::Invalid
    );
    // The disk returns: the snapshot stays INVALID (it missed the root's writes) and
    // cannot be merged.
    w.d.reattach(&be1).unwrap();
    w.k.set_open_count(TOP, 0).unwrap();
    w.k.reboot();
    activate_now(&mut w);
    assert!(w.k.read_dev(TOP, Bytes(0), 65536).unwrap() == now);
    let a = read_actual(&w.b, &w.d, &w.k).unwrap();
    let e = crate::plan::plan_merge(&c, &w.b, &a, "pre", &PlanOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("INVALID"), "{e}");
}

#[test]
fn a_broken_off_copy_of_the_root_yields_its_links_to_the_root_after_a_reboot() {
    use crate::io::Visibility;
    let mut w = converted();
    let joined = env_yaml(Some("joined"));
    let p = plan_for(&w, &joined, false).unwrap();
    let b = w.b.clone();
    execute(&p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
    proxy_op(
        &mut w,
        &joined,
        "upgrade",
        ProxyOp::Part { readonly: false },
    )
    .unwrap();
    proxy_op(&mut w, &joined, "upgrade", ProxyOp::Break).unwrap();
    assert!(
        newest(&w).volume("upgrade").is_some(),
        "an ordinary volume now"
    );
    w.k.reboot();
    activate_now(&mut w);
    assert_eq!(w.k.visibility(PROXY), Some(Visibility::Copy));
    assert_eq!(w.k.visibility(TOP), Some(Visibility::Public));
}
