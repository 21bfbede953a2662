//! `dmclass activate --force`: start a class that the closing rule keeps down (too
//! few metadata copies readable, e.g. one disk left of a three-way mirror), from the
//! complete copies present — GDS's recovery of a closed class, LVM's
//! `--activationmode degraded`, mdadm's `--run --force`.
//!
//! What it does, in order:
//! 1. every autostart volume must have a complete copy on the disks present (judged
//!    as plain activation does, from the recorded states and the dm-raid
//!    superblocks); otherwise it refuses and writes nothing;
//! 2. it records every absent disk as departed (stale) at the class's current
//!    generation and its slices `INVALID`, in a new generation written to the disks
//!    present: when such a disk returns it is re-added and resynced from the others,
//!    never used as a source;
//! 3. it activates (interrupted applies are finished as usual).
//!
//! The class stays closed for a plain `activate` until enough disks are back.

use super::recover::{finish_report, prepare_open, write_to};
use super::{activate_open, leg_views, ActivateReport, ClassOnDisks};
use crate::error::EngineError;
use crate::error::Result;
use crate::io::{Disks, Kernel};
use crate::layout::SliceState;
use crate::metadata::Departure;
use crate::metadata::{ClassMeta, EngineMeta};
use crate::raid_sb::{judge, Verdict};

/// What a forced start will do (pure: decided before anything is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcePlan {
    /// The description to write and start from (`None`: nothing to record).
    pub meta: Option<ClassMeta>,
    /// Disks recorded stale.
    pub stale: Vec<String>,
    /// What will happen, one line each, for the confirmation and the report.
    pub lines: Vec<String>,
}

impl ForcePlan {
    /// Whether the forced description puts the lease area elsewhere than `before`
    /// (its disk was absent): the new area is written before any lease is taken.
    pub fn moves_leases(&self, before: &ClassMeta) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.leases.as_ref().map(|a| &a.extent) != before.leases.as_ref().map(|a| &a.extent)
        })
    }
}

/// Decide a forced start of `class` (reads the legs' superblocks through `disks`).
pub fn plan(class: &ClassOnDisks, disks: &dyn Disks) -> Result<ForcePlan> {
    let meta = &class.meta;
    let present = |d: &str| class.present.iter().any(|p| p.name == d);
    let mut unstartable = Vec::new();
    let mut lines = Vec::new();
    for vol in meta.volumes.iter().filter(|v| v.autostart) {
        let missing = vol.layout.legs_missing(present);
        if missing.len() == vol.layout.legs.len() {
            unstartable.push(format!("{}: no leg has all its disks present", vol.name));
            continue;
        }
        if vol.engine != EngineMeta::Raid1 || vol.layout.legs.len() < 2 {
            continue;
        }
        let views = leg_views(meta, vol, &missing, &class.present, disks);
        match judge(&format!("{}/{}", meta.name, vol.name), &views) {
            Verdict::Start { complete, .. } => {
                let from: Vec<String> = complete
                    .iter()
                    .filter_map(|i| views.get(*i))
                    .map(|v| v.disks.join("+"))
                    .collect();
                lines.push(format!(
                    "volume {}: starts from the complete copy on {}",
                    vol.name,
                    from.join(", ")
                ));
            }
            Verdict::Refuse(why) => unstartable.push(why),
        }
    }
    if !unstartable.is_empty() {
        return Err(EngineError::refused_class(
            &meta.name,
            format!(
                "--force cannot start it: {}; nothing was changed",
                unstartable.join("; ")
            ),
        ));
    }
    let stale: Vec<String> = class
        .missing
        .iter()
        .filter(|d| meta.departed.iter().all(|x| &x.disk != *d))
        .cloned()
        .collect();
    if stale.is_empty() {
        return Ok(ForcePlan {
            meta: None,
            stale,
            lines,
        });
    }
    let mut m = meta.clone();
    for d in &stale {
        m.departed.push(Departure {
            disk: d.clone(),
            generation: meta.generation,
            reason: "absent when the class was started with activate --force".into(),
            takeovers: Vec::new(),
        });
        lines.push(format!(
            "disk {d} ({}): recorded stale; resynced from the others when it returns, never used as a source",
            meta.stable_id(d)
        ));
    }
    for v in &mut m.volumes {
        for l in &mut v.layout.legs {
            if l.disks().iter().any(|d| stale.iter().any(|s| s == d)) {
                l.state = SliceState::Invalid;
            }
        }
    }
    // The leases' disk is among the absent ones: a new lease area on a disk here,
    // written before the class's leases are taken (`ForcePlan::moves_leases`).
    let here: Vec<String> = class
        .present
        .iter()
        .filter(|p| !stale.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();
    if let Some(line) = crate::plan::lease_area::relocate(&mut m, &here)? {
        lines.push(line);
        // The old lockspace still works for a node that reaches its disk: the new one
        // excludes nobody there.
        lines.push(
            "leases: only when no other node runs the class (stopped or fenced): a node \
             that still reaches the old lease disk keeps the old lockspace and could run \
             the same volumes at the same time"
                .into(),
        );
    }
    m.generation = meta.generation.saturating_add(1);
    lines.push(format!(
        "metadata generation {} written to {}",
        m.generation,
        class
            .present
            .iter()
            .filter(|p| m.departed.iter().all(|x| x.disk != p.name))
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(ForcePlan {
        meta: Some(m),
        stale,
        lines,
    })
}

/// Carry out `plan` for `class`: write the new description, then activate without
/// the closing rule. The plan's lines come first in the report's warnings.
pub fn activate_forced(
    class: &ClassOnDisks,
    plan: &ForcePlan,
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    progress: &mut dyn FnMut(crate::progress::Progress<'_>),
) -> Result<ActivateReport> {
    let mut class = class.clone();
    if let Some(m) = &plan.meta {
        let names: Vec<String> = class
            .present
            .iter()
            .filter(|p| m.departed.iter().all(|x| x.disk != p.name))
            .map(|p| p.name.clone())
            .collect();
        for n in &names {
            write_to(&class, n, m, disks)?;
        }
        class.meta = m.clone();
        for p in &mut class.present {
            if names.contains(&p.name) {
                p.generation = m.generation;
            }
        }
        class.stale.retain(|s| !names.contains(&s.name));
    }
    let rec = prepare_open(&class, kernel, disks)?;
    let mut rep = activate_open(&rec.class, kernel, &*disks, progress)?;
    finish_report(&rec, &mut rep, disks)?;
    let mut w: Vec<String> = plan.lines.iter().map(|l| format!("forced: {l}")).collect();
    w.append(&mut rep.warnings);
    rep.warnings = w;
    Ok(rep)
}
