//! The imperative copy-on-write plans: start a merge ([`plan_merge`]) and finish
//! merges the kernel completed ([`plan_finish`]), built from the same stacks and
//! transition as apply (plan/cow.rs).

use super::cow::{stack, transition};
use super::current::current;
use super::{Action, Actual, DiskBinding, Plan, PlanOptions};
use crate::cow::{find, snapshots_of, MergeMode};
use crate::error::refuse;
use crate::error::Result;
use crate::io::Kernel;
use crate::metadata::{ClassTypeMeta, CowState};
use crate::names::{dm_name, Layer};
use dmclass_model::Class;

/// `dmclass snapshot merge`: record `snapshot` as merging and, when its origin is
/// active and not open, replace the origin by `snapshot-merge` now (the snapshot
/// device goes). An open origin merges at its next activation (plan note says so);
/// an inactive one when it is activated.
pub fn plan_merge(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    snapshot: &str,
    _opts: &PlanOptions,
) -> Result<Plan> {
    let class = desired.name.as_str();
    let cur = current(desired, bindings, actual)?;
    let Some(old) = cur.meta.clone() else {
        return refuse(
            class,
            &format!("class {class}"),
            "the class does not exist on these disks",
        );
    };
    let obj = format!("snapshot {snapshot}");
    let Some(c) = find(&old, snapshot) else {
        return refuse(class, &obj, "no copy-on-write snapshot of that name");
    };
    match c.state {
        CowState::Invalid => {
            return refuse(
                class,
                &obj,
                "it is INVALID (its COW store overflowed); it cannot be merged",
            )
        }
        CowState::Merging => return refuse(class, &obj, "it is already merging"),
        CowState::Active => {}
    }
    let origin = c.origin.to_owned();
    if snapshots_of(&old, &origin)
        .iter()
        .any(|s| s.state == CowState::Merging)
    {
        return refuse(
            class,
            &obj,
            format!("another snapshot of {origin} is merging"),
        );
    }
    let live = |n: &str| actual.live.iter().find(|i| i.name == n).cloned();
    let snap_dev = dm_name(class, snapshot, Layer::Top)?;
    if live(&snap_dev).is_some_and(|i| i.open_count > 0) {
        return refuse(
            class,
            &obj,
            "the snapshot device is open; unmount or close it first",
        );
    }
    let mut meta = old.clone();
    crate::cow::set_state(&mut meta, snapshot, CowState::Merging);
    meta.generation += 1;
    let mut p = Plan::empty(&cur, desired, bindings, actual, meta.clone());
    p.actions
        .push(Action::write_meta_all(&meta, "snapshot merging"));
    let top = dm_name(class, &origin, Layer::Top)?;
    match live(&top) {
        None => p.notes.push(format!(
            "volume {origin} is not active: the merge starts when it is activated"
        )),
        // A root class volume in use is the running system: its next activation is
        // the initramfs of the next boot, before the root is mounted (as LVM merges
        // a root snapshot); the file system sees the snapshot's data from then on.
        Some(i) if i.open_count > 0 && old.class_type == ClassTypeMeta::Root => {
            p.notes.push(format!(
                "volume {origin} is part of the running system: it is rolled back to \
                 snapshot {snapshot} at the next boot (the initramfs starts the merge \
                 before the root is mounted); until then both keep their data, and \
                 `dmclass snapshot merge --cancel` withdraws the request"
            ));
        }
        Some(i) if i.open_count > 0 => p.notes.push(format!(
            "volume {origin} {}: the merge starts at its next activation",
            crate::error::is_open(i.open_count)
        )),
        Some(_) => {
            let from = stack(&old, &origin, MergeMode::Start, actual.node.as_deref())?;
            let to = stack(&meta, &origin, MergeMode::Start, actual.node.as_deref())?;
            transition(class, &from, &to, &live, &mut p.actions)?;
        }
    }
    Ok(p)
}

/// `dmclass snapshot merge --cancel`: withdraw a merge that has not started (its
/// origin was open, so the snapshot still has its own device): the snapshot is
/// `active` again and nothing else changes. A merge the kernel started cannot be
/// stopped (its origin already holds part of the snapshot's data) and is refused,
/// as is one whose start cannot be told (origin and snapshot inactive).
pub fn plan_merge_cancel(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    snapshot: &str,
) -> Result<Plan> {
    let class = desired.name.as_str();
    let cur = current(desired, bindings, actual)?;
    let obj = format!("snapshot {snapshot}");
    let Some(old) = cur.meta.clone() else {
        return refuse(class, &obj, "the class does not exist on these disks");
    };
    let Some(c) = find(&old, snapshot) else {
        return refuse(class, &obj, "no copy-on-write snapshot of that name");
    };
    if c.state != CowState::Merging {
        return refuse(class, &obj, "no merge of it was requested");
    }
    let live = |n: &str| actual.live.iter().any(|i| i.name == n);
    let snap_dev = dm_name(class, snapshot, Layer::Top)?;
    let top = dm_name(class, c.origin, Layer::Top)?;
    // Its own device is the proof that the merge never started: once the kernel
    // merges, the snapshot device is gone and never built again.
    if !live(&snap_dev) {
        let why = if live(&top) {
            format!(
                "the kernel is merging it into {} (part of its data is already there); \
                 a running merge cannot be withdrawn — `dmclass status` shows its progress",
                c.origin
            )
        } else {
            format!(
                "{} is not active, so whether the merge already started cannot be told \
                 (a started merge cannot be withdrawn); `dmclass activate {class}` \
                 starts or resumes it",
                c.origin
            )
        };
        return refuse(class, &obj, why);
    }
    let mut meta = old.clone();
    crate::cow::set_state(&mut meta, snapshot, CowState::Active);
    meta.generation += 1;
    let mut p = Plan::empty(&cur, desired, bindings, actual, meta.clone());
    p.actions
        .push(Action::write_meta_all(&meta, "snapshot merge withdrawn"));
    Ok(p)
}

/// Whether the kernel finished merging into `origin`: its top carries
/// `snapshot-merge` and reports `allocated == metadata` sectors.
pub fn merge_done(kernel: &dyn Kernel, class: &str, origin: &str) -> Result<bool> {
    let top = dm_name(class, origin, Layer::Top)?;
    let Ok(st) = kernel.status(&top) else {
        return Ok(false);
    };
    Ok(st.first().is_some_and(|l| {
        l.target == "snapshot-merge"
            && crate::cow::status::parse_snapshot_status(&l.params)
                .is_ok_and(|s| s.merge_finished())
    }))
}

/// Finish every merge the kernel completed: the origin returns to its own table (or
/// `snapshot-origin` over its remaining snapshots), the store is removed, then the
/// snapshot leaves the metadata. `None` when nothing finished.
pub fn plan_finish(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    kernel: &dyn Kernel,
) -> Result<Option<Plan>> {
    let class = desired.name.as_str();
    let cur = current(desired, bindings, actual)?;
    let Some(old) = cur.meta.clone() else {
        return Ok(None);
    };
    let live = |n: &str| actual.live.iter().find(|i| i.name == n).cloned();
    let mut meta = old.clone();
    let mut actions = Vec::new();
    for c in crate::cow::cow_snapshots(&old) {
        if c.state != CowState::Merging || !merge_done(kernel, class, c.origin)? {
            continue;
        }
        let from = stack(&meta, c.origin, MergeMode::Start, actual.node.as_deref())?;
        meta.snapshots.retain(|s| s.name != c.name);
        let to = stack(&meta, c.origin, MergeMode::Start, actual.node.as_deref())?;
        transition(class, &from, &to, &live, &mut actions)?;
    }
    if actions.is_empty() {
        return Ok(None);
    }
    meta.generation += 1;
    actions.push(Action::write_meta_all(&meta, "merged snapshots removed"));
    let mut p = Plan::empty(&cur, desired, bindings, actual, meta);
    p.actions = actions;
    Ok(Some(p))
}
