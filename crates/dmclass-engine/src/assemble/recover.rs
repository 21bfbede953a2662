//! Recovery at activation: an interrupted apply (an [`Intent`] on disk), a metadata
//! update that reached only some disks, and the class-closing rule.
//!
//! [`activate_recovering`] = [`prepare`] → [`super::activate`] → [`finish`]:
//!
//! 1. a closed class ([`crate::closing`]) is refused with the rule, nothing written;
//! 2. the newest generation among the readable copies wins (the closing rule has
//!    just checked that they are a quorum); disks holding an older one (a crash
//!    between the per-disk writes of one update) are rewritten with it, with a
//!    warning;
//! 3. an intent is finished or rolled back per change, the volumes are activated from
//!    the resulting description, and a new generation without the intent is written
//!    to every present disk.
//!
//! Per-op behaviour (the apply writes the intent before its first kernel change, so a
//! crash *before* that write leaves the previous generation and no intent: nothing to
//! do; new rmeta / log extents zeroed by then lie in free space):
//!
//! | op | crash after the intent write | result |
//! |---|---|---|
//! | `create-class` | roll forward: volumes built from the metadata (create / load / resume are idempotent, half-made devices are completed) | class complete on the disks that got their area |
//! | `add-disk` | roll forward: the area was formatted before any kernel change | disk is a member |
//! | `create-volume` | roll forward, as `create-class` | volume present, rmeta zeroed before the intent write |
//! | `grow` | the metadata already records the larger size; the kernel table is rebuilt from it (a reload that never happened, or a suspended top, is redone / resumed); the new space was never handed out, old data stays in place | volume at the new size |
//! | `add-leg` | the leg is recorded `COPY`: activation loads the raid with `rebuild N` (a full resync from the old legs, whatever the new leg holds), then the leg is recorded `ACTIVE` — as the apply itself does once the rebuild has started; a leg whose disk is missing stays `COPY` | leg rebuilding |
//! | `remove-volume` | roll forward: the devices still there are removed top first (refused when open) and the volume dropped from the metadata; its slices' data is not touched | volume gone |
//! | `copy-rate` | roll forward: the metadata records the new rate and activation loads the raid1 table with it (a reload that never happened is redone) | volume at the new rate |
//! | `snapshot`, `proxy-join`, `proxy-part`, `proxy-rejoin`, `proxy-restore`, `proxy-break`, `reconfigure` | roll forward from the metadata: those plans record a state that activation can build before changing the kernel | as recorded |
//! | `remove-snapshot` | roll back: the metadata still records the snapshot (its devices go before the write that drops it) and its COW store is untouched, so activation rebuilds it whole | snapshot present; remove it again |
//! | unknown (newer dmclass) | refused, nothing written | — |

use super::{ActivateReport, ClassOnDisks};
use crate::error::io_err;
use crate::error::{EngineError, Result};
use crate::exec::device::remove;
use crate::io::{Disks, Kernel};
use crate::layout::SliceState;
use crate::metadata::{read_area_at, AreaState};
use crate::metadata::{write_next, ClassMeta, EngineMeta, Intent, IntentOp};
use crate::tables::{volume_devices, Activation, DeviceRole};

/// A class prepared for activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The class to activate (description after rolling the intent forward, lagging
    /// disks at the newest generation).
    pub class: ClassOnDisks,
    /// The interrupted apply being resolved.
    pub intent: Option<Intent>,
    /// Disks rewritten because they held an older generation.
    pub rewritten: Vec<String>,
    /// Messages for the admin.
    pub warnings: Vec<String>,
}

/// Write `meta` to the present disk `name` (its older slot).
pub(super) fn write_to(
    class: &ClassOnDisks,
    name: &str,
    meta: &ClassMeta,
    disks: &mut dyn Disks,
) -> Result<()> {
    let Some(p) = class.present.iter().find(|p| p.name == name) else {
        return Err(EngineError::UnknownDisk(name.to_owned()));
    };
    let area = match read_area_at(name, &p.path, &*disks) {
        AreaState::Member(a) => a,
        AreaState::Blank => {
            return Err(EngineError::refused_class(
                &meta.name,
                format!("disk {name}: its private area vanished"),
            ));
        }
        AreaState::Unreadable(why) | AreaState::Hostile { reason: why, .. } => {
            return Err(EngineError::refused_class(
                &meta.name,
                format!("disk {name}: {why}"),
            ));
        }
    };
    if area.meta.generation >= meta.generation {
        return Ok(());
    }
    write_next(disks, &p.path, name, &area, meta)
}

/// Remove the devices a `remove-volume` left behind (top first).
fn remove_leftovers(meta: &ClassMeta, volume: &str, kernel: &mut dyn Kernel) -> Result<usize> {
    let Some(v) = meta.volume(volume) else {
        return Ok(0);
    };
    let specs = volume_devices(&meta.name, meta.uuid, v, &Activation::default())?;
    let mut n = 0;
    for s in specs.iter().rev() {
        let info = kernel
            .info(&s.name)
            .map_err(|e| io_err(format!("device {}", s.name), e))?;
        if let Some(i) = info {
            if s.role == DeviceRole::Top && i.open_count > 0 {
                return Err(EngineError::refused_class(
                    &meta.name,
                    format!(
                        "finishing the interrupted removal of volume {volume}: device {} {}; close it and activate again",
                        s.name, crate::error::is_open(i.open_count)
                    ),
                ));
            }
            remove(kernel, &s.name)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Check the closing rule, bring lagging disks to the newest generation, and roll an
/// interrupted apply forward as far as it must be before activation.
pub fn prepare(
    class: &ClassOnDisks,
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
) -> Result<Recovery> {
    if let Some(c) = class.closing() {
        return Err(EngineError::refused_class(
            &class.meta.name,
            format!("{c}; nothing was changed (`dmclass activate --force` starts it from the complete copies present)"),
        ));
    }
    prepare_open(class, kernel, disks)
}

/// [`prepare`] without the closing rule (`activate --force` has checked what it
/// overrides).
pub(super) fn prepare_open(
    class: &ClassOnDisks,
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
) -> Result<Recovery> {
    let name = class.meta.name.clone();
    let mut rec = Recovery {
        class: class.clone(),
        intent: class.meta.intent.clone(),
        rewritten: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(i) = &rec.intent {
        if i.changes.iter().any(|c| c.op == IntentOp::Unknown) || i.op == IntentOp::Unknown {
            return Err(EngineError::refused_class(
                &name,
                format!(
                    "an interrupted apply of a kind this dmclass does not know is recorded ({}); use the dmclass that wrote it",
                    i.describe()
                ),
            ));
        }
    }
    for s in &class.stale {
        // A disk that left the class (failed leg, unplugged) keeps the generation it
        // left with: that is how its return is recognised, and a failed disk is never
        // written. Only disks an interrupted update left behind are brought forward.
        if class.meta.departed.iter().any(|d| d.disk == s.name) {
            rec.warnings.push(format!(
                "disk {} left the class at generation {} and is not rewritten; it is re-added when it returns (dmclass event add)",
                s.name, s.generation
            ));
            continue;
        }
        write_to(class, &s.name, &class.meta, disks)?;
        rec.warnings.push(format!(
            "disk {} held metadata generation {}, the newest readable is {} (an update was interrupted between disks); rewritten with generation {}",
            s.name, s.generation, class.meta.generation, class.meta.generation
        ));
        rec.rewritten.push(s.name.clone());
    }
    for p in &mut rec.class.present {
        if rec.rewritten.contains(&p.name) {
            p.generation = class.meta.generation;
        }
    }
    rec.class.stale.retain(|s| !rec.rewritten.contains(&s.name));
    invalidate_lost_stores(&mut rec, disks)?;
    let Some(intent) = rec.intent.clone() else {
        return Ok(rec);
    };
    rec.warnings.push(format!(
        "an interrupted apply was found: {}; finishing it",
        intent.describe()
    ));
    for v in intent.objects_of(IntentOp::RemoveVolume) {
        let n = remove_leftovers(&class.meta, v, kernel)?;
        rec.class.meta.volumes.retain(|x| x.name != v);
        rec.warnings.push(format!(
            "volume {v}: removal finished ({n} device(s) were left)"
        ));
    }
    Ok(rec)
}

/// Active snapshots whose store has no disk present are recorded INVALID (a new
/// generation on every present disk) so that their origins start without them: the
/// origin changes from now on without copy-on-write, so the snapshot could never be
/// trusted again, even when its disk returns. A system that boots beats a snapshot
/// kept; the warning says what was lost. Merging snapshots are left as they are
/// (their origins are not started: [`crate::cow::activate::lost_store_refusal`]).
fn invalidate_lost_stores(rec: &mut Recovery, disks: &mut dyn Disks) -> Result<()> {
    let meta = &rec.class.meta;
    let present = |d: &str| rec.class.present.iter().any(|p| p.name == d);
    let lost: Vec<String> = crate::cow::cow_snapshots(meta)
        .into_iter()
        .filter(|c| c.state == crate::metadata::CowState::Active)
        .filter(|c| crate::cow::store_lost(c, &present))
        .map(|c| c.name.to_owned())
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    let mut meta = meta.clone();
    for s in &lost {
        crate::cow::set_state(&mut meta, s, crate::metadata::CowState::Invalid);
        rec.warnings.push(format!(
            "snapshot {s}: every disk of its store is missing; recorded INVALID so that its origin \
             starts without it (its data cannot be trusted again; `dmclass snapshot remove` frees it)"
        ));
    }
    meta.generation += 1;
    write_present(&rec.class, &meta, disks)?;
    for p in &mut rec.class.present {
        p.generation = meta.generation;
    }
    rec.class.meta = meta;
    Ok(())
}

/// Write `meta` to every present disk of `class`.
fn write_present(class: &ClassOnDisks, meta: &ClassMeta, disks: &mut dyn Disks) -> Result<()> {
    for p in &class.present {
        write_to(class, &p.name, meta, disks)?;
    }
    Ok(())
}

/// After activation: record the legs the kernel was handed with `rebuild N` (`COPY`)
/// as `ACTIVE` (the kernel tracks them in its superblocks from now on), clear the
/// intent, and write the new generation to every present disk. Returns the
/// generation written, if anything changed.
pub fn finish(
    rec: &Recovery,
    report: &ActivateReport,
    disks: &mut dyn Disks,
) -> Result<Option<u64>> {
    let mut meta = rec.class.meta.clone();
    let mut changed = meta.intent.take().is_some() || rec.intent.is_some();
    let started = |v: &str| {
        report.started.iter().any(|s| s == v) || report.already_active.iter().any(|s| s == v)
    };
    for v in &mut meta.volumes {
        if !started(&v.name) || v.engine != EngineMeta::Raid1 || v.layout.legs.len() < 2 {
            continue; // not active: the COPY legs are rebuilt at the next start
        }
        let missing: Vec<usize> = report
            .degraded
            .iter()
            .filter(|(n, _)| *n == v.name)
            .flat_map(|(_, m)| m.iter().copied())
            .collect();
        for (i, l) in v.layout.legs.iter_mut().enumerate() {
            if l.state == SliceState::Copy && !missing.contains(&i) {
                l.state = SliceState::Active;
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    meta.generation += 1;
    write_present(&rec.class, &meta, disks)?;
    Ok(Some(meta.generation))
}

/// [`prepare`], [`super::activate`], [`finish`]: what `dmclass activate` runs. The
/// recovery warnings come first in the report's warnings.
pub fn activate_recovering(
    class: &ClassOnDisks,
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    progress: &mut dyn FnMut(crate::progress::Progress<'_>),
) -> Result<ActivateReport> {
    let rec = prepare(class, kernel, disks)?;
    let mut rep = super::activate(&rec.class, kernel, &*disks, progress)?;
    finish_report(&rec, &mut rep, disks)?;
    Ok(rep)
}

/// [`finish`], with the recovery warnings first in the report's warnings.
pub(super) fn finish_report(
    rec: &Recovery,
    rep: &mut ActivateReport,
    disks: &mut dyn Disks,
) -> Result<()> {
    let g = finish(rec, rep, disks)?;
    if let Some(g) = g.filter(|_| rec.intent.is_some()) {
        rep.warnings.push(format!(
            "interrupted apply resolved; class {} is at generation {g}",
            rec.class.meta.name
        ));
    }
    let mut w = rec.warnings.clone();
    w.append(&mut rep.warnings);
    rep.warnings = w;
    Ok(())
}
