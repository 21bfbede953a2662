//! Activation of volumes with copy-on-write snapshots (hooks of [`crate::assemble`]):
//! the origin is stacked over `-real` with its snapshots' stores, and a snapshot
//! recorded `merging` starts merging now unless its origin is open (then the merge
//! waits for the next activation, as LVM's does).

use crate::cow::tables::origin_stack;
use crate::cow::{snap_devs, MergeMode};
use crate::error::io_err;
use crate::error::Result;
use crate::io::{DevNum, Kernel};
use crate::metadata::{ClassMeta, CowState, EngineMeta, VolumeMeta};
use crate::names::{dm_name, Layer};
use crate::tables::{Activation, DeviceSpec};
use std::collections::BTreeMap;

/// How a store starts with the disks present: missing legs left out (a dm-mirror
/// store with one leg left maps it directly, like its origin).
fn store_start(store: &VolumeMeta, numbers: &BTreeMap<String, DevNum>) -> (VolumeMeta, Activation) {
    let (mut v, mut act) = crate::cow::plain_store(store);
    let missing = v.layout.legs_missing(|d| numbers.contains_key(d));
    if missing.is_empty() {
        return (v, act);
    }
    if v.engine == EngineMeta::Mirror && v.layout.legs.len() - missing.len() == 1 {
        v.layout
            .legs
            .retain(|l| l.disks().iter().all(|d| numbers.contains_key(*d)));
        v.layout.log = None;
        return (v, Activation::default());
    }
    act.rebuild.retain(|i| !missing.contains(i));
    act.missing = missing;
    (v, act)
}

/// The devices to ensure for volume `v` (already adjusted for missing legs, started
/// with `act`): its plain stack, or the origin stack when it has snapshots. A merge
/// that starts now first removes the merging snapshot's device.
/// A snapshot whose store lost every disk is left out ([`lost_store_refusal`] has
/// said whether the origin may start without it).
pub(crate) fn volume_specs(
    meta: &ClassMeta,
    v: &VolumeMeta,
    act: &Activation,
    numbers: &BTreeMap<String, DevNum>,
    kernel: &mut dyn Kernel,
) -> Result<Vec<DeviceSpec>> {
    let top = dm_name(&meta.name, &v.name, Layer::Top)?;
    let open = kernel
        .info(&top)
        .map_err(|e| io_err(format!("device {top}"), e))?
        .is_some_and(|i| i.live_table && i.open_count > 0);
    // An open origin defers a merge, unless the kernel already runs it (the root,
    // mounted after the initramfs started the merge): loading the snapshot's stack
    // again would stop a merge half-way.
    let merging_now = open
        && kernel
            .table(&top)
            .map_err(|e| io_err(format!("table of {top}"), e))?
            .first()
            .is_some_and(|l| l.target == "snapshot-merge");
    let mode = if open && !merging_now {
        MergeMode::Defer
    } else {
        MergeMode::Start
    };
    // A snapshot whose store has no disk present is left out: activation refuses
    // its origin unless it is recorded INVALID (`recover::prepare` does that).
    let mut snaps = snap_devs(meta, &v.name, mode, &|s| store_start(s, numbers));
    snaps.retain(|s| s.store_act.missing.len() < s.store.layout.legs.len());
    if mode == MergeMode::Start {
        for c in crate::cow::snapshots_of(meta, &v.name) {
            if c.state != CowState::Merging {
                continue;
            }
            let dev = dm_name(&meta.name, c.name, Layer::Top)?;
            if kernel
                .info(&dev)
                .map_err(|e| io_err(format!("device {dev}"), e))?
                .is_some()
            {
                if kernel.info(&top).ok().flatten().is_some() {
                    kernel
                        .suspend(&top, false)
                        .map_err(|e| io_err(format!("suspending {top}"), e))?;
                }
                kernel
                    .remove(&dev)
                    .map_err(|e| io_err(format!("removing {dev} (merge starts)"), e))?;
            }
        }
    }
    let mut specs = origin_stack(&meta.name, meta.uuid, v, act, &snaps)?;
    crate::root::mark_copies(meta, v, &mut specs);
    Ok(specs)
}

/// Why origin `volume` must not start: a snapshot of it whose store has no disk
/// present and that is not recorded INVALID. A merging one may already have copied
/// part of its data onto the origin (a merge cut by a power loss), so the origin
/// alone could be half-merged; an active one would miss copy-on-write and be wrong
/// when its disk returns (`recover::prepare` records those INVALID first).
pub(crate) fn lost_store_refusal(
    meta: &ClassMeta,
    volume: &str,
    is_present: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let c = crate::cow::snapshots_of(meta, volume)
        .into_iter()
        .find(|c| c.state != CowState::Invalid && crate::cow::store_lost(c, is_present))?;
    let disks: Vec<&str> = c
        .store
        .map(|s| {
            s.layout
                .extents()
                .into_iter()
                .map(|e| e.disk.as_str())
                .collect()
        })
        .unwrap_or_default();
    Some(if c.state == CowState::Merging {
        format!(
            "snapshot {} is merging into it and its store's disk(s) {} are missing: started \
             alone, {volume} could show a half-merged file system; bring the disk(s) back",
            c.name,
            disks.join(", ")
        )
    } else {
        format!(
            "the store of snapshot {} is on missing disk(s) {}; `dmclass activate` records \
             the snapshot INVALID and starts {volume} without it",
            c.name,
            disks.join(", ")
        )
    })
}

/// Removal order of hidden layers: snapshot `-real` and `-cow` devices hold other
/// layers, so they go first.
pub(crate) fn layer_rank(name: &str) -> u8 {
    u8::from(!(name.ends_with("-real") || name.ends_with("-cow")))
}
