//! Activation from on-disk metadata alone (boot, `dmclass activate`): find every
//! private area, group them by class, start the volumes (children first), degraded
//! when a leg's disk is missing; and `deactivate` (top devices first).

use crate::error::io_err;
use crate::error::{EngineError, Result};
use crate::exec::device::ensure;
use crate::io::{DevNum, Disks, Kernel};
use crate::layout::SliceState;
use crate::metadata::{label_problem, ClassMeta, DecodedArea, LabelContext};
use crate::metadata::{read_area_at, AreaState};
use crate::names::{escape, parse_dm_uuid, NAME_PREFIX};
use crate::tables::{Activation, DeviceSpec};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use uuid::Uuid;

pub mod force;
pub mod recover;

/// A disk carrying a valid dmclass private area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundArea {
    /// Device node.
    pub path: PathBuf,
    /// What the area holds.
    pub area: DecodedArea,
}

/// A disk whose label decodes but is not trusted (crafted, [`label_problem`]): it is
/// `DISABLE`, not used by activation and never written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostileArea {
    /// Device node.
    pub path: PathBuf,
    /// What the label claims (class and disk UUIDs, class name).
    pub area: DecodedArea,
    /// Why it is not trusted.
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Valid areas.
    pub found: Vec<FoundArea>,
    /// Disks with a damaged dmclass area (path, reason); disks without one are skipped.
    pub damaged: Vec<(PathBuf, String)>,
    /// Disks with a crafted label.
    pub hostile: Vec<HostileArea>,
}

/// Read the private area of every path. Each label is checked on its own (and
/// against its device's size) when read, then against the other disks' headers: a
/// label placing data on a disk whose own header names another class is hostile.
pub fn scan(paths: &[PathBuf], disks: &dyn Disks) -> ScanResult {
    let mut out = ScanResult::default();
    for p in paths {
        match read_area_at(&p.display().to_string(), p, disks) {
            AreaState::Member(a) => out.found.push(FoundArea {
                path: p.clone(),
                area: *a,
            }),
            AreaState::Blank => {}
            AreaState::Unreadable(why) => out.damaged.push((p.clone(), why)),
            AreaState::Hostile { area, reason } => out.hostile.push(HostileArea {
                path: p.clone(),
                area: *area,
                reason,
            }),
        }
    }
    let disk_classes: BTreeMap<Uuid, (Uuid, String)> = out
        .found
        .iter()
        .map(|f| {
            (
                f.area.header.disk_uuid,
                (f.area.meta.uuid, f.area.meta.name.clone()),
            )
        })
        .collect();
    let ctx = LabelContext {
        disk_classes: Some(&disk_classes),
        ..LabelContext::default()
    };
    let (good, bad): (Vec<FoundArea>, Vec<FoundArea>) = std::mem::take(&mut out.found)
        .into_iter()
        .partition(|f| label_problem(&f.area, &ctx).is_none());
    out.found = good;
    for f in bad {
        let reason = label_problem(&f.area, &ctx).unwrap_or_default();
        out.hostile.push(HostileArea {
            path: f.path,
            area: f.area,
            reason,
        });
    }
    out
}

/// A registered disk that is on the machine but not trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisabledDisk {
    /// Disk name in the class.
    pub name: String,
    /// Device node.
    pub path: PathBuf,
    /// Why it is `DISABLE`.
    pub reason: String,
}

/// The classes of a scan ([`group_classes`] of its valid areas), each with the disks
/// whose crafted label claims to belong to it (by class and disk UUID) as `disabled`.
pub fn classes_of(scan: &ScanResult) -> Vec<ClassOnDisks> {
    let mut classes = group_classes(&scan.found);
    for h in &scan.hostile {
        let Some(c) = classes.iter_mut().find(|c| c.meta.uuid == h.area.meta.uuid) else {
            continue;
        };
        let name = c
            .meta
            .disks
            .iter()
            .find(|d| d.uuid == h.area.header.disk_uuid)
            .map_or_else(|| h.path.display().to_string(), |d| d.name.clone());
        if c.present.iter().any(|p| p.name == name) {
            continue; // the real disk is here: the crafted copy is reported by the scan
        }
        c.disabled.push(DisabledDisk {
            name,
            path: h.path.clone(),
            reason: format!("crafted label: {}", h.reason),
        });
    }
    classes
}

/// A member disk found on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresentDisk {
    /// Disk name in the class.
    pub name: String,
    /// Device node.
    pub path: PathBuf,
    /// Generation of the metadata on it.
    pub generation: u64,
}

/// One class assembled from the areas found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassOnDisks {
    /// The newest valid description across its disks.
    pub meta: ClassMeta,
    /// Member disks found (including stale ones: their data legs are used).
    pub present: Vec<PresentDisk>,
    /// Recorded members not found.
    pub missing: Vec<String>,
    /// Members whose metadata is older than `meta` (reported; their metadata is not used).
    pub stale: Vec<PresentDisk>,
    /// Members on the machine whose label is not trusted ([`classes_of`]): `DISABLE`,
    /// not used, never written (they also count in `missing`).
    pub disabled: Vec<DisabledDisk>,
    /// This machine's node name, when the caller knows it ([`classes_of`] leaves it
    /// `None`): a netmirror volume started here reads from this node's own leg
    /// ([`crate::netmirror::remote_legs`]).
    pub node: Option<String>,
}

impl ClassOnDisks {
    /// The present disks by name: device node.
    pub fn present_paths(&self) -> std::collections::BTreeMap<String, PathBuf> {
        self.present
            .iter()
            .map(|d| (d.name.clone(), d.path.clone()))
            .collect()
    }

    /// Whether the class is closed by GDS's rule ([`crate::closing`]), counting the
    /// disks found with a valid private area.
    pub fn closing(&self) -> Option<crate::closing::Closing> {
        crate::closing::meta_closing(&self.meta, |n| self.present.iter().any(|p| p.name == n))
    }
}

/// Group found areas by class UUID (sorted by class name, then UUID).
pub fn group_classes(found: &[FoundArea]) -> Vec<ClassOnDisks> {
    let mut by: BTreeMap<Uuid, Vec<&FoundArea>> = BTreeMap::new();
    for f in found {
        by.entry(f.area.meta.uuid).or_default().push(f);
    }
    let mut out = Vec::new();
    for areas in by.values() {
        let Some(meta) = areas
            .iter()
            .map(|f| &f.area.meta)
            .max_by_key(|m| m.generation)
            .cloned()
        else {
            continue;
        };
        let mut present = Vec::new();
        let mut stale = Vec::new();
        for f in areas {
            let Some(d) = meta
                .disks
                .iter()
                .find(|d| d.uuid == f.area.header.disk_uuid)
            else {
                continue; // an area of this class on a disk no longer recorded
            };
            if present.iter().any(|p: &PresentDisk| p.name == d.name) {
                continue; // the same disk seen through two paths
            }
            let p = PresentDisk {
                name: d.name.clone(),
                path: f.path.clone(),
                generation: f.area.meta.generation,
            };
            if p.generation < meta.generation {
                stale.push(p.clone());
            }
            present.push(p);
        }
        let missing = meta
            .disks
            .iter()
            .filter(|d| present.iter().all(|p| p.name != d.name))
            .map(|d| d.name.clone())
            .collect();
        out.push(ClassOnDisks {
            meta,
            present,
            missing,
            stale,
            disabled: Vec::new(),
            node: None,
        });
    }
    out.sort_by(|a, b| (&a.meta.name, a.meta.uuid).cmp(&(&b.meta.name, b.meta.uuid)));
    out
}

/// What an activation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActivateReport {
    /// Volumes started (or changed) now.
    pub started: Vec<String>,
    /// Volumes that were already active with the right tables.
    pub already_active: Vec<String>,
    /// Volumes started without some legs: (volume, missing leg indexes).
    pub degraded: Vec<(String, Vec<usize>)>,
    /// Volumes not started, with the reason (a failure to report).
    pub skipped: Vec<(String, String)>,
    /// Volumes left inactive because they have `autostart: false` (as asked: not a
    /// failure; `lvchange -aay` leaves such volumes alone the same way).
    pub manual: Vec<String>,
    /// Warnings for the admin (degraded volumes, stale disks).
    pub warnings: Vec<String>,
}

/// Start every `autostart` volume of `class` (children first). A mirrored volume
/// whose leg lacks a disk starts degraded with a warning; a volume with no leg
/// present is skipped with the reason. Running it again changes nothing.
pub fn activate(
    class: &ClassOnDisks,
    kernel: &mut dyn Kernel,
    disks: &dyn Disks,
    progress: &mut dyn FnMut(crate::progress::Progress<'_>),
) -> Result<ActivateReport> {
    if let Some(c) = class.closing() {
        return Err(EngineError::Refused {
            class: class.meta.name.clone(),
            object: format!("class {}", class.meta.name),
            reason: format!("{c}; no volume was started"),
        });
    }
    activate_open(class, kernel, disks, progress)
}

/// [`activate`] without the closing rule (`activate --force`).
pub(crate) fn activate_open(
    class: &ClassOnDisks,
    kernel: &mut dyn Kernel,
    disks: &dyn Disks,
    progress: &mut dyn FnMut(crate::progress::Progress<'_>),
) -> Result<ActivateReport> {
    let meta = &class.meta;
    let t0 = std::time::Instant::now();
    // Volumes of a class without snapshots share no device: their stacks can be
    // built side by side (snapshot stacks span volumes and keep the sequential path).
    let parallel = meta.snapshots.is_empty();
    let mut jobs: Vec<(String, Vec<DeviceSpec>)> = Vec::new();
    let mut rep = ActivateReport::default();
    let mut numbers: BTreeMap<String, DevNum> = BTreeMap::new();
    for p in &class.present {
        let n = disks
            .devnum(&p.path)
            .map_err(|e| io_err(format!("disk {}", p.name), e))?;
        numbers.insert(p.name.clone(), n);
    }
    for d in &class.disabled {
        rep.warnings.push(format!(
            "class {}: disk {} ({}) is DISABLE, not used and not written: {}",
            meta.name,
            d.name,
            d.path.display(),
            d.reason
        ));
    }
    for s in &class.stale {
        rep.warnings.push(format!(
            "class {}: disk {} has metadata generation {}, the class is at {}; it will be updated by the next apply",
            meta.name, s.name, s.generation, meta.generation
        ));
    }
    for vol in &meta.volumes {
        if !vol.autostart {
            rep.manual.push(vol.name.clone());
            continue;
        }
        let missing = vol.layout.legs_missing(|d| numbers.contains_key(d));
        if missing.len() == vol.layout.legs.len() {
            let why = "no leg has all its disks present".to_owned();
            rep.warnings.push(format!(
                "class {}: volume {} not started: {why}",
                meta.name, vol.name
            ));
            rep.skipped.push((vol.name.clone(), why));
            continue;
        }
        if let Some(why) =
            crate::cow::activate::lost_store_refusal(meta, &vol.name, &|d| numbers.contains_key(d))
        {
            rep.warnings.push(format!(
                "class {}: volume {} not started: {why}",
                meta.name, vol.name
            ));
            rep.skipped.push((vol.name.clone(), why));
            continue;
        }
        let mut v = vol.clone();
        let rebuild = if crate::proxy::restoring_from_proxy(meta, vol, &|d| numbers.contains_key(d))
        {
            // A restore stopped before its copy was done: the proxy's leg is the
            // source, every present own leg is rebuilt from it. Their superblocks
            // cannot say so (they are complete copies of the data being replaced).
            (0..vol.layout.legs.len())
                .filter(|i| !missing.contains(i))
                .collect()
        } else if vol.engine == crate::metadata::EngineMeta::Raid1 && vol.layout.legs.len() > 1 {
            let views = leg_views(meta, vol, &missing, &class.present, disks);
            if let Some(why) = start_lock(meta, vol, &views, kernel) {
                rep.skipped.push((vol.name.clone(), why));
                continue;
            }
            match crate::raid_sb::judge(&format!("{}/{}", meta.name, vol.name), &views) {
                crate::raid_sb::Verdict::Start { rebuild, .. } => rebuild,
                crate::raid_sb::Verdict::Refuse(why) => {
                    log::info!(
                        "class {}: volume {} not started: {why}",
                        meta.name,
                        vol.name
                    );
                    rep.skipped.push((vol.name.clone(), why));
                    continue;
                }
            }
        } else {
            v.layout
                .legs
                .iter()
                .enumerate()
                .filter(|(i, l)| l.state == SliceState::Copy && !missing.contains(i))
                .map(|(i, _)| i)
                .collect()
        };
        let mut act = Activation {
            write_mostly: crate::netmirror::remote_legs(meta, vol, class.node.as_deref()),
            rebuild,
            missing: missing.clone(),
            ..Activation::default()
        };
        let present = v.layout.legs.len() - missing.len();
        if v.engine == crate::metadata::EngineMeta::Mirror && present == 1 && !missing.is_empty() {
            // dm-mirror needs two legs: map the surviving leg directly.
            v.layout
                .legs
                .retain(|l| l.disks().iter().all(|d| numbers.contains_key(*d)));
            v.layout.log = None;
            act = Activation::default();
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .filter_map(|i| vol.layout.legs.get(*i))
                .flat_map(|l| l.disks().into_iter().map(str::to_owned))
                .filter(|d| !numbers.contains_key(d))
                .collect();
            rep.warnings.push(format!(
                "class {}: volume {} started degraded: leg(s) {:?} missing (disk(s) {})",
                meta.name,
                vol.name,
                missing,
                names.join(", ")
            ));
            rep.degraded.push((vol.name.clone(), missing.clone()));
        }
        progress(crate::progress::Progress::Activating {
            class: &meta.name,
            volume: &vol.name,
        });
        // A proxy master: its proxy's leg is slot N (`- -` while parted).
        crate::proxy::activation_view(meta, &mut v, &mut act, &|d| numbers.contains_key(d));
        if parallel {
            let mut specs = crate::cow::activate::volume_specs(meta, &v, &act, &numbers, kernel)?;
            // (never reached with a proxy: proxies are snapshots)
            let (parted, _) = crate::proxy::parted_devices(
                meta,
                &vol.name,
                &|d| numbers.contains_key(d),
                &|e| rmeta_blank(&class.present, e, disks),
            )?;
            specs.extend(parted);
            jobs.push((vol.name.clone(), specs));
            continue;
        }
        let mut changed = false;
        for spec in crate::cow::activate::volume_specs(meta, &v, &act, &numbers, kernel)? {
            changed |= ensure(kernel, &spec, &numbers)?;
        }
        let (parted, gone) =
            crate::proxy::parted_devices(meta, &vol.name, &|d| numbers.contains_key(d), &|e| {
                rmeta_blank(&class.present, e, disks)
            })?;
        for spec in &parted {
            changed |= ensure(kernel, spec, &numbers)?;
        }
        for name in &gone {
            kernel
                .remove(name)
                .map_err(|e| io_err(format!("removing {name}"), e))?;
        }
        if changed {
            rep.started.push(vol.name.clone());
        } else {
            rep.already_active.push(vol.name.clone());
        }
    }
    for ((name, _), changed) in jobs.iter().zip(ensure_all(kernel, &jobs, &numbers)?) {
        if changed {
            rep.started.push(name.clone());
        } else {
            rep.already_active.push(name.clone());
        }
    }
    log::info!(
        "class {}: devices of {} volume(s) up in {:.2?}",
        meta.name,
        rep.started.len() + rep.already_active.len(),
        t0.elapsed()
    );
    let t1 = std::time::Instant::now();
    // The devices are up; udev lagging only delays their links.
    let settled = kernel.settle();
    log::info!("class {}: udev settled in {:.2?}", meta.name, t1.elapsed());
    if let Err(e) = settled {
        rep.warnings.push(format!(
            "udev has not finished processing the new devices ({e}); /dev/dmclass links may appear late"
        ));
    }
    Ok(rep)
}

/// Why netmirror volume `vol` must wait for the partner's disk
/// ([`crate::netmirror::start_lock`]); a volume running already is never stopped by it.
fn start_lock(
    meta: &ClassMeta,
    vol: &crate::metadata::VolumeMeta,
    views: &[crate::raid_sb::LegView],
    kernel: &dyn Kernel,
) -> Option<String> {
    let why = crate::netmirror::start_lock::locked(meta, vol, views)?;
    (!volume_running(&meta.name, &vol.name, kernel)).then_some(why)
}

/// Whether volume `volume` of class `class` has its top device in the kernel.
pub fn volume_running(class: &str, volume: &str, kernel: &dyn Kernel) -> bool {
    crate::names::dm_name(class, volume, crate::names::Layer::Top)
        .ok()
        .and_then(|top| kernel.info(&top).ok().flatten())
        .is_some()
}

/// The netmirror volumes of `class` (autostart ones) that the start lock keeps down
/// on this node, each with the reason: checked before a shared class's leases are
/// taken, so the refusal names the partner rather than a lease.
pub fn start_locked(
    class: &ClassOnDisks,
    kernel: &dyn Kernel,
    disks: &dyn Disks,
) -> Vec<(String, String)> {
    let meta = &class.meta;
    meta.volumes
        .iter()
        .filter(|v| v.autostart && v.engine == crate::metadata::EngineMeta::Raid1)
        .filter_map(|vol| {
            let missing = vol
                .layout
                .legs_missing(|d| class.present.iter().any(|p| p.name == d));
            let views = leg_views(meta, vol, &missing, &class.present, disks);
            start_lock(meta, vol, &views, kernel).map(|why| (vol.name.clone(), why))
        })
        .collect()
}

/// Whether the rmeta extent `e` holds no dm-raid superblock (zeroed, never loaded).
/// A read that fails, or a superblock dmclass cannot judge, is not blank: the
/// kernel then gets the plain table and says what it thinks of it.
fn rmeta_blank(present: &[PresentDisk], e: &crate::layout::Extent, disks: &dyn Disks) -> bool {
    use crate::raid_sb::{RaidSuperblock, SbRead, READ_LEN};
    present.iter().find(|p| p.name == e.disk).is_some_and(|p| {
        disks
            .read(&p.path, e.offset.to_bytes(), READ_LEN)
            .is_ok_and(|b| RaidSuperblock::decode(&b) == SbRead::Blank)
    })
}

/// How activation sees each leg of raid1 volume `vol`: present or not, its recorded
/// state, and the dm-raid superblock read from its `_rmeta` (present legs only).
pub(crate) fn leg_views(
    meta: &ClassMeta,
    vol: &crate::metadata::VolumeMeta,
    missing: &[usize],
    present: &[PresentDisk],
    disks: &dyn Disks,
) -> Vec<crate::raid_sb::LegView> {
    use crate::raid_sb::{LegView, RaidSuperblock, SbRead, READ_LEN};
    vol.layout
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let names: Vec<String> = l.disks().iter().map(|d| (*d).to_owned()).collect();
            let is_present = !missing.contains(&i);
            let sb = if is_present {
                l.rmeta
                    .as_ref()
                    .map(|e| match present.iter().find(|p| p.name == e.disk) {
                        None => SbRead::Unreadable(format!("disk {} not found", e.disk)),
                        Some(p) => match disks.read(&p.path, e.offset.to_bytes(), READ_LEN) {
                            Ok(b) => RaidSuperblock::decode(&b),
                            Err(err) => SbRead::Unreadable(format!(
                                "reading its dm-raid superblock failed: {err}"
                            )),
                        },
                    })
            } else {
                None
            };
            LegView {
                id: names
                    .first()
                    .map_or_else(String::new, |d| meta.stable_id(d)),
                disks: names,
                present: is_present,
                state: l.state,
                sb,
                sectors: vol.size.0,
            }
        })
        .collect()
}

/// Bring up every volume's stack (`jobs`: volume, devices children first); whether
/// anything changed, per job. With worker handles from the kernel the volumes are
/// spread over a few threads — each stack in order on one thread, stacks side by side
/// (the ioctls of one device wait on its metadata I/O; others proceed meanwhile).
/// The first error is returned once every thread has stopped.
fn ensure_all(
    kernel: &mut dyn Kernel,
    jobs: &[(String, Vec<DeviceSpec>)],
    numbers: &BTreeMap<String, DevNum>,
) -> Result<Vec<bool>> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = (cpus * 2).min(4).min(jobs.len() / 2);
    let workers: Option<Vec<Box<dyn Kernel + Send>>> = if threads >= 2 {
        (0..threads).map(|_| kernel.worker()).collect()
    } else {
        None
    };
    let one = |k: &mut dyn Kernel, specs: &[DeviceSpec]| -> Result<bool> {
        let mut changed = false;
        for spec in specs {
            changed |= ensure(k, spec, numbers)?;
        }
        Ok(changed)
    };
    let Some(workers) = workers else {
        return jobs.iter().map(|(_, specs)| one(kernel, specs)).collect();
    };
    let n = workers.len();
    let results: Vec<Result<Vec<(usize, bool)>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(t, mut w)| {
                sc.spawn(move || {
                    let mut done = Vec::new();
                    for (i, (_, specs)) in jobs.iter().enumerate().skip(t).step_by(n) {
                        done.push((i, one(&mut *w, specs)?));
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EngineError::InvalidLayout(
                        "an activation thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let mut out = vec![false; jobs.len()];
    for r in results {
        for (i, changed) in r? {
            if let Some(o) = out.get_mut(i) {
                *o = changed;
            }
        }
    }
    Ok(out)
}

/// Whether dm name `name` belongs to class `class` (by its escaped prefix).
fn name_in_class(name: &str, class: &str) -> bool {
    let prefix = format!("{NAME_PREFIX}-{}-", escape(class));
    name.strip_prefix(&prefix)
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('-'))
}

/// Remove every dm device of class `class`: visible volumes first, then hidden
/// layers. Refuses, removing nothing, when a volume is open. Returns the removed
/// dm names.
pub fn deactivate(class: &str, kernel: &mut dyn Kernel) -> Result<Vec<String>> {
    let all = kernel
        .list()
        .map_err(|e| io_err("listing device-mapper devices", e))?;
    let uuids: Vec<Uuid> = all
        .iter()
        .filter(|i| name_in_class(&i.name, class))
        .filter_map(|i| parse_dm_uuid(&i.uuid).map(|(c, _, _)| c))
        .collect();
    let mut tops = Vec::new();
    let mut layers = Vec::new();
    for i in &all {
        let Some((c, _, layer)) = parse_dm_uuid(&i.uuid) else {
            continue;
        };
        if !uuids.contains(&c) {
            continue;
        }
        if layer.is_empty() {
            if i.open_count > 0 {
                return Err(EngineError::Refused {
                    class: class.to_owned(),
                    object: format!("device {}", i.name),
                    reason: format!(
                        "it is open ({} opener(s), EBUSY); unmount or close it first",
                        i.open_count
                    ),
                });
            }
            tops.push(i.name.clone());
        } else {
            layers.push(i.name.clone());
        }
    }
    let mut removed = Vec::new();
    layers.sort_by_key(|n| crate::cow::activate::layer_rank(n));
    for n in tops.into_iter().chain(layers) {
        kernel
            .remove(&n)
            .map_err(|e| io_err(format!("removing {n}"), e))?;
        removed.push(n);
    }
    if let Err(e) = kernel.settle() {
        log::warn!("udev has not finished processing the removals: {e}");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests_crafted;
