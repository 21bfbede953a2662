//! The whole of one event: read, scan, decide, carry out — what `dmclass event` and
//! `dmclass monitor` run, over any [`Kernel`] / [`Disks`] (real or simulated).

use super::{
    carry_out, live_state, on_disk_added, on_dm_event, Carried, DiskLabel, Policy, Reaction,
};
use crate::assemble::{classes_of, scan, ClassOnDisks};
use crate::error::Result;
use crate::io::{DevNum, Disks, Kernel};
use crate::metadata::{label_problem, LabelContext};
use crate::metadata::{read_area_at, AreaState};
use crate::names::{escape, parse_dm_uuid, NAME_PREFIX};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The outcome for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The class as found on the disks before the reaction.
    pub class: ClassOnDisks,
    /// What was done.
    pub carried: Carried,
}

/// The class UUID of the running devices of class `name`, if any run.
fn running_uuid(name: &str, kernel: &dyn Kernel) -> Option<Uuid> {
    let prefix = format!("{NAME_PREFIX}-{}-", escape(name));
    kernel.list().ok()?.iter().find_map(|i| {
        i.name
            .strip_prefix(&prefix)
            .filter(|rest| !rest.is_empty() && !rest.starts_with('-'))
            .and_then(|_| parse_dm_uuid(&i.uuid))
            .map(|(c, _, _)| c)
    })
}

/// Trusted disks of a class (present and not stale), name → node.
fn trusted(class: &ClassOnDisks) -> BTreeMap<String, PathBuf> {
    class
        .present
        .iter()
        .filter(|p| class.stale.iter().all(|s| s.name != p.name))
        .map(|p| (p.name.clone(), p.path.clone()))
        .collect()
}

fn numbers(paths: &BTreeMap<String, PathBuf>, disks: &dyn Disks) -> BTreeMap<String, DevNum> {
    paths
        .iter()
        .filter_map(|(n, p)| disks.devnum(p).ok().map(|d| (n.clone(), d)))
        .collect()
}

/// Refuse `dev`, whose label claims class `uuid` but is not trusted: the class (as
/// its other disks describe it) gets a `Reject` — reported, nothing written.
fn refuse_label(
    dev: &Path,
    area: &crate::metadata::DecodedArea,
    reason: String,
    others: &[PathBuf],
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
) -> Result<Option<Handled>> {
    let uuid = running_uuid(&area.meta.name, &*kernel).unwrap_or(area.meta.uuid);
    let Some(class) = classes_of(&scan(others, &*disks))
        .into_iter()
        .find(|c| c.meta.uuid == uuid)
    else {
        log::warn!(
            "{}: dmclass label of class {} refused (DISABLE, not written): {reason}",
            dev.display(),
            area.meta.name
        );
        return Ok(None);
    };
    let name = class
        .meta
        .disks
        .iter()
        .find(|d| d.uuid == area.header.disk_uuid)
        .map_or_else(|| dev.display().to_string(), |d| d.name.clone());
    let reactions = [Reaction::Reject { disk: name, reason }];
    // No disk to write: a rejection records nothing.
    let carried = carry_out(
        &class.meta,
        &reactions,
        &BTreeMap::new(),
        None, // a rejection loads no table
        kernel,
        disks,
    )?;
    Ok(Some(Handled { class, carried }))
}

/// A disk appeared or changed (`dev`); `all` are the machine's disk nodes. `None`
/// when `dev` carries no dmclass label (not ours: nothing to do).
///
/// While the class runs, the class is what its *other* disks say: the appearing
/// disk's label must not win the scan by a newer generation (split brain, or
/// forged) before the identity check has looked at it.
pub fn disk_added(
    dev: &Path,
    all: &[PathBuf],
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    policy: &Policy,
) -> Result<Option<Handled>> {
    let others: Vec<PathBuf> = all.iter().filter(|p| *p != dev).cloned().collect();
    let area = match read_area_at(&dev.display().to_string(), dev, &*disks) {
        AreaState::Member(a) => a,
        AreaState::Hostile { area, reason } => {
            let why = format!("crafted label: {reason}");
            return refuse_label(dev, &area, why, &others, kernel, disks);
        }
        AreaState::Blank | AreaState::Unreadable(_) => return Ok(None),
    };
    let label = DiskLabel::from_area(&area);
    let mut paths: Vec<PathBuf> = all.to_vec();
    if !paths.iter().any(|p| p == dev) {
        paths.push(dev.to_path_buf());
    }
    // A running class of the same name decides (another UUID is rejected there).
    let running = running_uuid(&label.class_name, &*kernel);
    let found = scan(if running.is_some() { &others } else { &paths }, &*disks);
    if let Some(h) = found.hostile.iter().find(|h| h.path == dev) {
        let why = format!("crafted label: {}", h.reason);
        return refuse_label(dev, &area, why, &others, kernel, disks);
    }
    let uuid = running.unwrap_or(label.class_uuid);
    let Some(class) = classes_of(&found).into_iter().find(|c| c.meta.uuid == uuid) else {
        return Ok(None);
    };
    if class.meta.class_type == crate::metadata::ClassTypeMeta::Shared
        && policy.leased_class != Some(class.meta.uuid)
    {
        // Its metadata changes under the class lease, and it starts where an admin or
        // the cluster says: nothing is done from udev (docs/shared-class.md).
        return Ok(None);
    }
    if running.is_some() {
        let ctx = LabelContext {
            running_generation: Some(class.meta.generation),
            ..LabelContext::default()
        };
        if let Some(reason) = label_problem(&area, &ctx) {
            return refuse_label(dev, &area, reason, &others, kernel, disks);
        }
    }
    let mut write = trusted(&class);
    let mut present: Vec<String> = class.present.iter().map(|p| p.name.clone()).collect();
    let me = class
        .meta
        .disks
        .iter()
        .find(|d| d.uuid == label.disk_uuid && class.meta.uuid == label.class_uuid)
        .map(|d| d.name.clone());
    let mut with_me = write.clone();
    if let Some(n) = &me {
        with_me.insert(n.clone(), dev.to_path_buf());
        if !present.contains(n) {
            present.push(n.clone());
        }
    }
    let live = live_state(&class.meta, &numbers(&with_me, &*disks), &*kernel)?;
    let reactions = on_disk_added(&class.meta, &present, &label, &live, policy);
    let rejected = reactions
        .iter()
        .any(|r| matches!(r, super::Reaction::Reject { .. }));
    if !rejected {
        write = with_me; // passed the identity check: it gets the new metadata too
    }
    let carried = carry_out(
        &class.meta,
        &reactions,
        &write,
        policy.node.as_deref(),
        kernel,
        disks,
    )?;
    Ok(Some(Handled { class, carried }))
}

/// A dm event or a disk removal: reconcile every class found on `all`.
pub fn dm_event(
    all: &[PathBuf],
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    policy: &Policy,
) -> Result<Vec<Handled>> {
    let mut out = Vec::new();
    for class in classes_of(&scan(all, &*disks)) {
        if class.meta.class_type == crate::metadata::ClassTypeMeta::Shared
            && policy.leased_class != Some(class.meta.uuid)
        {
            continue; // as in disk_added: not without the class lease
        }
        let write = trusted(&class);
        let live = live_state(&class.meta, &numbers(&write, &*disks), &*kernel)?;
        if !live.any_active() {
            continue;
        }
        let reactions = on_dm_event(&class.meta, &live, policy);
        if reactions.is_empty() {
            continue;
        }
        let carried = carry_out(
            &class.meta,
            &reactions,
            &write,
            policy.node.as_deref(),
            kernel,
            disks,
        )?;
        out.push(Handled { class, carried });
    }
    Ok(out)
}
