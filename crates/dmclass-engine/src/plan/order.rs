//! Turning a [`Diff`] into ordered actions (the order is listed in [`actions`]; the
//! rules behind it in the module doc of [`crate::plan`]). Copy-on-write snapshots
//! and proxies add their actions through `pre_meta` / `post_meta` of plan/cow.rs and
//! plan/proxy.rs.

use super::change::{Change, Diff};
use super::current::Current;
use super::devices::specs;
use super::diff::settled;
use super::spec_ref::{layers, SpecRef};
use super::steps::{create_shared, reload};
use super::{name_map, NameMap};
use super::{Action, ActionKind, Actual, Step, Text};
use crate::error::{EngineError, Result};
use crate::layout::Extent;
use crate::metadata::{ClassMeta, VolumeMeta};
use crate::tables::{volume_devices, Activation};
use dmclass_model::Bytes;
use std::collections::HashSet;
use std::rc::Rc;

/// The devices of new volume number `at` of `meta`, created children first. A plain
/// volume's specs are built when needed from `shared`, one copy of `meta` for the
/// whole plan (plan/spec_ref.rs), made on first use; checked here as
/// [`volume_devices`] checks them. A volume with a leg on another node's disk is
/// built here, for this node (`node`).
fn new_volume(
    meta: &ClassMeta,
    shared: &mut Option<Rc<ClassMeta>>,
    at: usize,
    node: Option<&str>,
    out: &mut Vec<Action>,
) -> Result<()> {
    let Some(vol) = meta.volumes.get(at) else {
        return Ok(());
    };
    let here = crate::netmirror::remote_legs(meta, vol, node).is_empty();
    if here && crate::proxy::proxy_of(meta, &vol.name).is_none() {
        crate::tables::check_layout(vol)?;
        let layers = layers(vol);
        crate::names::check_dm_names(&meta.name, &vol.name, &layers)?;
        let shared = shared.get_or_insert_with(|| Rc::new(final_meta(meta)));
        if let Some(refs) = SpecRef::lazy_all(shared, at, &layers) {
            for r in refs {
                create_shared(r, out);
            }
            return Ok(());
        }
    }
    for s in specs(meta, vol, node)? {
        create_shared(SpecRef::Built(Rc::new(s)), out);
    }
    Ok(())
}

/// `meta` as the plan's last metadata write records it, but for its generation
/// (known once the intent is recorded): without an intent.
fn final_meta(meta: &ClassMeta) -> ClassMeta {
    let mut m = meta.clone();
    m.intent = None;
    m
}

/// Disk names shared by the actions that zero extents on them.
#[derive(Default)]
pub(crate) struct DiskNames(NameMap<String, Rc<String>>);

impl DiskNames {
    pub(crate) fn get(&mut self, disk: &str) -> Rc<String> {
        if let Some(n) = self.0.get(disk) {
            return Rc::clone(n);
        }
        let n = Rc::new(disk.to_owned());
        self.0.insert(disk.to_owned(), Rc::clone(&n));
        n
    }
}

fn zero(e: &Extent, what: std::fmt::Arguments<'_>, names: &mut DiskNames, out: &mut Vec<Action>) {
    let detail = format!(
        "{what}: {} bytes at byte {}",
        e.len.0 * 512,
        e.offset.0 * 512
    );
    zero_text(e, detail.into(), names, out);
}

/// [`zero`] with its detail text given.
fn zero_text(e: &Extent, detail: Text, names: &mut DiskNames, out: &mut Vec<Action>) {
    let offset = Bytes(e.offset.0 * 512);
    let len = Bytes(e.len.0 * 512);
    let disk = names.get(&e.disk);
    out.push(Action::new(
        ActionKind::ZeroExtent,
        Text::shared(&disk),
        detail,
        Step::Zero { disk, offset, len },
    ));
}

/// Volumes by name, built once per plan (the first of a name wins, as
/// [`ClassMeta::volume`]): a linear lookup per volume made planning quadratic.
#[derive(Default)]
pub(crate) struct Vols<'a>(NameMap<&'a str, usize>, &'a [VolumeMeta]);

impl<'a> Vols<'a> {
    /// The volume named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a VolumeMeta> {
        self.1.get(*self.0.get(name)?)
    }

    /// Its position in the class description.
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.0.get(name).copied()
    }
}

/// [`Vols`] of `meta`.
pub(crate) fn volumes_by_name(meta: &ClassMeta) -> Vols<'_> {
    let mut m = name_map(meta.volumes.len());
    for (i, v) in meta.volumes.iter().enumerate() {
        m.entry(v.name.as_str()).or_insert(i);
    }
    Vols(m, &meta.volumes)
}

/// About how many actions the plan has (new volumes dominate a large plan), so the
/// list is allocated once: a doubling vector of a quarter of a million actions costs
/// time and, while it is copied, memory. Only a hint; the plan is the same without it.
fn expected_len(meta: &ClassMeta, vols: &Vols, changes: &[Change]) -> usize {
    let mut n = meta.disks.len() + 4; // format or metadata writes, the intent
    for c in changes {
        let Change::NewVolume(name) = c else {
            n += 8;
            continue;
        };
        let Some(v) = vols.get(name.as_str()) else {
            continue;
        };
        let legs = &v.layout.legs;
        let rmetas = legs.iter().filter(|l| l.rmeta.is_some()).count();
        let log = usize::from(v.layout.log.is_some());
        let devices = match (legs.len(), v.engine) {
            (0 | 1, _) => 1,
            (k, crate::metadata::EngineMeta::Raid1) => k + rmetas + 1,
            (_, crate::metadata::EngineMeta::Mirror) => {
                let images = legs.iter().filter(|l| l.segments.len() > 1).count();
                usize::from(v.jrm) * log + images + 1
            }
        };
        n += rmetas + log + 4 * devices;
    }
    n
}

/// Every action, in order.
///
/// Also returns the copy of the new description that new volumes' devices are built
/// from, when there is one: the plan's last metadata write can be that copy.
pub(crate) fn actions(
    cur: &Current,
    d: &Diff,
    actual: &Actual,
) -> Result<(Vec<Action>, Option<Rc<ClassMeta>>)> {
    let mut out = Vec::new();
    if d.changes.is_empty() && cur.meta.as_ref() == Some(&d.meta) {
        return Ok((out, None));
    }
    let meta = &d.meta;
    let live = |n: &str| actual.live.iter().find(|i| i.name == n);
    let old = cur.meta.as_ref();
    let vols = volumes_by_name(meta);
    let old_vols = old.map(volumes_by_name).unwrap_or_default();
    let mut names = DiskNames::default();
    let mut shared = None;
    out.reserve(expected_len(meta, &vols, &d.changes));
    // 1. Remove destroyed volumes' devices, top first (metadata is written after).
    for c in &d.changes {
        if let (Change::RemoveVolume(v), Some(om)) = (c, old) {
            let specs = volume_devices(&om.name, om.uuid, v, &Activation::default())?;
            for s in specs.iter().rev() {
                if let Some(i) = live(&s.name) {
                    if s.role == crate::tables::DeviceRole::Top && i.open_count > 0 {
                        return Err(EngineError::refused(
                            &meta.name,
                            format!("volume {}", v.name),
                            crate::error::busy(format!("device {}", s.name), i.open_count),
                        ));
                    }
                    out.push(Action::new(
                        ActionKind::Remove,
                        s.name.clone(),
                        format!("volume {} (destroyed)", v.name),
                        Step::Remove {
                            name: s.name.clone(),
                        },
                    ));
                }
            }
        }
    }
    // 2. Zero metadata extents of new volumes and new legs.
    for c in &d.changes {
        match c {
            Change::NewVolume(n) => {
                if let (Some(v), Some(at)) = (vols.get(n.as_str()), vols.index(n.as_str())) {
                    // the detail written from the shared description when shown
                    let shared = shared.get_or_insert_with(|| Rc::new(final_meta(meta)));
                    let at = u32::try_from(at).ok();
                    for (i, l) in v.layout.legs.iter().enumerate() {
                        if let Some(e) = &l.rmeta {
                            match (at, u8::try_from(i)) {
                                (Some(at), Ok(leg)) if leg != u8::MAX => {
                                    zero_text(e, Text::zero(shared, at, leg), &mut names, &mut out);
                                }
                                _ => zero(
                                    e,
                                    format_args!("volume {n} leg {i} rmeta"),
                                    &mut names,
                                    &mut out,
                                ),
                            }
                        }
                    }
                    if let Some(e) = &v.layout.log {
                        match at {
                            Some(at) => {
                                zero_text(e, Text::zero(shared, at, u8::MAX), &mut names, &mut out);
                            }
                            None => zero(
                                e,
                                format_args!("volume {n} mirror log"),
                                &mut names,
                                &mut out,
                            ),
                        }
                    }
                }
            }
            Change::AddLeg(n) => {
                let (Some(v), Some(ov)) = (vols.get(n.as_str()), old_vols.get(n.as_str())) else {
                    continue;
                };
                if live(&crate::names::dm_name(
                    &meta.name,
                    n,
                    crate::names::Layer::Top,
                )?)
                .is_none()
                {
                    return Err(EngineError::refused(&meta.name, format!("volume {n}"), "it is not active; activate the class first (a new leg is rebuilt from the live legs)"));
                }
                for (i, l) in v.layout.legs.iter().enumerate().skip(ov.layout.legs.len()) {
                    if let Some(e) = &l.rmeta {
                        zero(
                            e,
                            format_args!("volume {n} new leg {i} rmeta"),
                            &mut names,
                            &mut out,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    // 2b. Copy-on-write snapshots: zero new stores, take removed ones down.
    super::cow::pre_meta(cur, meta, &d.changes, actual, &mut out)?;
    super::proxy::pre_meta(old, meta, &mut out);
    // 3. Metadata: fresh areas on new disks, the new generation on the others.
    let mut existing = Vec::new();
    for dm in &meta.disks {
        if d.changes.contains(&Change::NewDisk(dm.name.clone())) {
            out.push(Action::new(
                ActionKind::FormatArea,
                dm.name.clone(),
                format!(
                    "new member: private area with class {} generation {}",
                    meta.name, meta.generation
                ),
                Step::Format {
                    disk: dm.name.clone(),
                },
            ));
        } else {
            existing.push(dm.name.clone());
        }
    }
    if !existing.is_empty() {
        out.push(Action::write_meta(meta, &existing, "before kernel changes"));
    }
    // 4. Kernel: new volumes, then changed live volumes.
    let mut rebuilt = false;
    let mut reloaded: HashSet<&str> = HashSet::new();
    for c in &d.changes {
        match c {
            Change::NewVolume(n) => {
                if let Some(at) = vols.index(n.as_str()) {
                    new_volume(meta, &mut shared, at, actual.node.as_deref(), &mut out)?;
                }
            }
            Change::Grow(n) | Change::AddLeg(n) | Change::CopyRate(n) => {
                let (Some(v), Some(om)) = (vols.get(n.as_str()), old) else {
                    continue;
                };
                let Some(ov) = old_vols.get(n.as_str()) else {
                    continue;
                };
                if !reloaded.insert(n.as_str()) {
                    continue; // grow + add leg (+ rate) in one apply: one reload
                }
                let top = crate::names::dm_name(&meta.name, n, crate::names::Layer::Top)?;
                if live(&top).is_none() {
                    continue; // inactive: the next activation uses the new layout
                }
                if !crate::cow::snapshots_of(meta, n).is_empty() {
                    // The raid table sits below snapshot-origin (`-real`); reloading
                    // the visible device would drop the snapshots.
                    return Err(EngineError::refused(&meta.name, format!("volume {n}"), "it has copy-on-write snapshots; changing copy_rate of a live origin is refused (remove the snapshots or deactivate the class first)"));
                }
                rebuilt |= matches!(c, Change::AddLeg(_));
                reload(meta, om, v, ov, &live, actual.node.as_deref(), &mut out)?;
            }
            _ => {}
        }
    }
    // 4b. New copy-on-write snapshots stacked over live origins.
    super::cow::post_meta(cur, meta, &d.changes, actual, &mut out)?;
    // 4c. Proxies joined, parted or rejoined (plan/proxy.rs).
    super::proxy::post_meta(old, meta, &d.changes, actual, &mut out)?;
    // 5. After a rebuild was started, record the new legs as ACTIVE.
    if rebuilt {
        if let Some(m) = settled(meta) {
            let all: Vec<String> = m.disks.iter().map(|x| x.name.clone()).collect();
            out.push(Action::write_meta(
                &m,
                &all,
                "new legs are being rebuilt by the kernel",
            ));
        }
    }
    Ok((out, shared))
}
