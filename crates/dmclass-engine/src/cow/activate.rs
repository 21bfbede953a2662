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
    let mode = if open {
        MergeMode::Defer
    } else {
        MergeMode::Start
    };
    let snaps = snap_devs(meta, &v.name, mode, &|s| store_start(s, numbers));
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
    origin_stack(&meta.name, meta.uuid, v, act, &snaps)
}

/// Removal order of hidden layers: snapshot `-real` and `-cow` devices hold other
/// layers, so they go first.
pub(crate) fn layer_rank(name: &str) -> u8 {
    u8::from(!(name.ends_with("-real") || name.ends_with("-cow")))
}
