//! The whole of one event: read, scan, decide, carry out — what `dmclass event` and
//! `dmclass monitor` run, over any [`Kernel`] / [`Disks`] (real or simulated).

use super::{carry_out, live_state, on_disk_added, on_dm_event, Carried, DiskLabel, Policy};
use crate::assemble::{group_classes, scan, ClassOnDisks};
use crate::error::Result;
use crate::io::{DevNum, Disks, Kernel};
use crate::names::{escape, parse_dm_uuid, NAME_PREFIX};
use crate::plan::{read_area_at, AreaState};
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

/// A disk appeared or changed (`dev`); `all` are the machine's disk nodes. `None`
/// when `dev` carries no dmclass label (not ours: nothing to do).
pub fn disk_added(
    dev: &Path,
    all: &[PathBuf],
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    policy: &Policy,
) -> Result<Option<Handled>> {
    let AreaState::Member(area) = read_area_at(&dev.display().to_string(), dev, &*disks) else {
        return Ok(None);
    };
    let label = DiskLabel::from_area(&area);
    let mut paths: Vec<PathBuf> = all.to_vec();
    if !paths.iter().any(|p| p == dev) {
        paths.push(dev.to_path_buf());
    }
    let classes = group_classes(&scan(&paths, &*disks).found);
    // A running class of the same name decides (another UUID is rejected there).
    let uuid = running_uuid(&label.class_name, &*kernel).unwrap_or(label.class_uuid);
    let Some(class) = classes.into_iter().find(|c| c.meta.uuid == uuid) else {
        return Ok(None);
    };
    let mut write = trusted(&class);
    let present: Vec<String> = class.present.iter().map(|p| p.name.clone()).collect();
    let me = class
        .meta
        .disks
        .iter()
        .find(|d| d.uuid == label.disk_uuid && class.meta.uuid == label.class_uuid)
        .map(|d| d.name.clone());
    let mut with_me = write.clone();
    if let Some(n) = &me {
        with_me.insert(n.clone(), dev.to_path_buf());
    }
    let live = live_state(&class.meta, &numbers(&with_me, &*disks), &*kernel)?;
    let reactions = on_disk_added(&class.meta, &present, &label, &live, policy);
    let rejected = reactions
        .iter()
        .any(|r| matches!(r, super::Reaction::Reject { .. }));
    if !rejected {
        write = with_me; // passed the identity check: it gets the new metadata too
    }
    let carried = carry_out(&class.meta, &reactions, &write, kernel, disks)?;
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
    for class in group_classes(&scan(all, &*disks).found) {
        let write = trusted(&class);
        let live = live_state(&class.meta, &numbers(&write, &*disks), &*kernel)?;
        if !live.any_active() {
            continue;
        }
        let reactions = on_dm_event(&class.meta, &live, policy);
        if reactions.is_empty() {
            continue;
        }
        let carried = carry_out(&class.meta, &reactions, &write, kernel, disks)?;
        out.push(Handled { class, carried });
    }
    Ok(out)
}
