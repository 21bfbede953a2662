//! The executor: runs a [`Plan`] against a [`Kernel`] / [`Disks`] pair.
//!
//! Before the first write it re-reads every bound disk's private area and refuses
//! ([`EngineError::MetadataChanged`]) when the class's newest generation is not the
//! one the plan was made against, or when a disk to be registered is no longer blank —
//! so a refused apply writes nothing. Every step is idempotent: an existing device
//! with the same UUID is not created again, a live table equal to the one planned is
//! not loaded again, a device already gone is not removed. Every table is read back
//! after resume and compared (exec/device.rs documents the comparison).

mod copy;
pub(crate) mod device;
pub mod failpoint;
mod preflight;
mod root;

pub use preflight::check_parts_in_sync;

#[cfg(test)]
mod tests_crash;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cow;

use crate::error::io_err;
use crate::error::{EngineError, Result};
use crate::io::{Disks, Kernel};
use crate::metadata::{area_base, format_area, AreaHeader, ClassMeta, DecodedArea};
use crate::metadata::{read_area_at, write_next, AreaState};
use crate::plan::{DiskBinding, Plan, Step};
use device::{KernelResolver, Outcome};
use failpoint::{ErrorHook, Failpoints, When};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[allow(unused_imports)] // doc links
use crate::plan::Action;

/// What an execution did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecReport {
    /// One line per action performed.
    pub done: Vec<String>,
    /// Actions found already done (idempotent re-run after a crash).
    pub skipped: Vec<String>,
    /// Generation on disk at the end.
    pub generation: u64,
    /// What steps had to say (a proxy copy: regions and bytes, or why it was full).
    pub notes: Vec<String>,
}

struct Exec<'a, 'f> {
    plan: &'a Plan,
    /// The armed failpoint (crash tests) and the index of the running action.
    fp: &'a mut Failpoints<'f>,
    index: usize,
    paths: BTreeMap<String, PathBuf>,
    areas: BTreeMap<String, DecodedArea>,
    report: ExecReport,
    /// What the last step has to say once done (a copy's byte count).
    note: Option<String>,
}

fn refuse(plan: &Plan, object: String, reason: String) -> EngineError {
    EngineError::refused(&plan.class, object, reason)
}

/// Run `plan` (made by [`crate::plan::plan`] over the same `bindings`). `progress`
/// gets one line per action as it starts.
pub fn execute(
    plan: &Plan,
    bindings: &[DiskBinding],
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    progress: &mut dyn FnMut(crate::progress::Progress<'_>),
) -> Result<ExecReport> {
    let mut hook = ErrorHook;
    let mut fp = Failpoints::none(&mut hook);
    execute_with(plan, bindings, kernel, disks, progress, &mut fp)
}

/// [`execute`] with a failpoint armed ([`failpoint`] lists the names).
pub fn execute_with(
    plan: &Plan,
    bindings: &[DiskBinding],
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
    progress: &mut dyn FnMut(crate::progress::Progress<'_>),
    fp: &mut Failpoints<'_>,
) -> Result<ExecReport> {
    let mut ex = Exec {
        plan,
        fp,
        index: 0,
        paths: bindings
            .iter()
            .map(|b| (b.name.clone(), b.path.clone()))
            .collect(),
        areas: BTreeMap::new(),
        report: ExecReport::default(),
        note: None,
    };
    ex.recheck(bindings, &*disks)?;
    preflight::check_parts_in_sync(plan, &*kernel)?;
    if plan.actions.is_empty() {
        ex.report.generation = plan.based_on_generation.unwrap_or(0);
        return Ok(ex.report);
    }
    let numbers = device::disk_numbers(bindings, &*disks)?;
    for (i, a) in plan.actions.iter().enumerate() {
        let kind = a.kind.as_str();
        let line = format!(
            "[{}/{}] {kind} {} {}",
            i + 1,
            plan.actions.len(),
            a.object,
            a.detail
        );
        progress(crate::progress::Progress::Step {
            number: i + 1,
            total: plan.actions.len(),
            text: &line,
        });
        ex.index = i;
        ex.fp.check(plan, i, When::Before)?;
        let outcome = ex.step(&a.step, kernel, disks, &numbers)?;
        match outcome {
            Outcome::Done => ex.report.done.push(line),
            Outcome::Skipped => ex.report.skipped.push(line),
        }
        if let Some(n) = ex.note.take() {
            progress(crate::progress::Progress::Note(&n));
            ex.report.notes.push(n);
        }
        ex.fp.check(plan, i, When::After)?;
    }
    Ok(ex.report)
}

impl Exec<'_, '_> {
    fn path(&self, disk: &str) -> Result<PathBuf> {
        self.paths
            .get(disk)
            .cloned()
            .ok_or_else(|| EngineError::UnknownDisk(disk.to_owned()))
    }

    /// The safety re-read: generation unchanged, new disks still blank.
    fn recheck(&mut self, bindings: &[DiskBinding], disks: &dyn Disks) -> Result<()> {
        let plan = self.plan;
        let mut newest: Option<u64> = None;
        for b in bindings {
            match read_area_at(&b.name, &b.path, disks) {
                AreaState::Member(a) if a.meta.uuid == plan.class_uuid => {
                    newest = newest.max(Some(a.meta.generation));
                    self.areas.insert(b.name.clone(), *a);
                }
                AreaState::Member(a) => {
                    return Err(refuse(
                        plan,
                        format!("disk {}", b.name),
                        format!(
                            "{} now belongs to dmclass class {} ({}); plan again",
                            b.path.display(),
                            a.meta.name,
                            a.meta.uuid
                        ),
                    ));
                }
                AreaState::Blank => {}
                AreaState::Unreadable(why) | AreaState::Hostile { reason: why, .. } => {
                    return Err(refuse(
                        plan,
                        format!("disk {}", b.name),
                        format!("{why}; dmclass will not write to it"),
                    ));
                }
            }
        }
        if newest != plan.based_on_generation {
            return Err(EngineError::MetadataChanged {
                class: plan.class.clone(),
                planned: plan
                    .based_on_generation
                    .map_or_else(|| "none (new class)".to_owned(), |g| g.to_string()),
                found: newest.unwrap_or(0),
            });
        }
        for a in &plan.actions {
            if let Step::Format { disk } = &a.step {
                if self.areas.contains_key(disk) {
                    return Err(refuse(
                        plan,
                        format!("disk {disk}"),
                        "it is already a member; plan again".into(),
                    ));
                }
            }
        }
        self.report.generation = newest.unwrap_or(0);
        Ok(())
    }

    fn step(
        &mut self,
        step: &Step,
        kernel: &mut dyn Kernel,
        disks: &mut dyn Disks,
        numbers: &BTreeMap<String, crate::io::DevNum>,
    ) -> Result<Outcome> {
        match step {
            Step::Format { disk } => self.format(disk, disks),
            Step::Zero { disk, offset, len } => {
                let p = self.path(disk)?;
                disks
                    .zero(&p, *offset, *len)
                    .map_err(|e| io_err(format!("zeroing disk {disk}"), e))?;
                Ok(Outcome::Done)
            }
            Step::WriteMeta { .. } | Step::WriteShared { .. } => match step.written_meta() {
                Some(meta) => self.write_meta(&meta, disks),
                None => Ok(Outcome::Done),
            },
            Step::Create { spec } => device::create(kernel, &spec.name(), &spec.uuid()),
            Step::Load { spec } => {
                let spec = spec.get()?;
                let t = {
                    let r = KernelResolver {
                        disks: numbers.clone(),
                        kernel: &*kernel,
                    };
                    device::lines(&spec, &r)?
                };
                device::load_lines(kernel, &spec, &t)
            }
            Step::Suspend { name } => device::suspend(kernel, name),
            Step::Resume { spec } => device::resume(kernel, &*spec.get()?),
            Step::Verify { spec } => {
                let spec = spec.get()?;
                let r = KernelResolver {
                    disks: numbers.clone(),
                    kernel: &*kernel,
                };
                device::verify(&*kernel, &spec, &r)?;
                Ok(Outcome::Done)
            }
            Step::Remove { name } => device::remove(kernel, name),
            Step::WriteTable(t) => {
                let p = self.path(&t.disk)?;
                root::write_table(
                    disks,
                    &t.disk,
                    &p,
                    (&t.start, t.start_at),
                    (&t.end, t.end_at),
                )?;
                Ok(Outcome::Done)
            }
            Step::CopyEsp(c) => {
                let (pf, pt) = (self.path(&c.from)?, self.path(&c.to)?);
                root::copy_esp(
                    &self.plan.class,
                    disks,
                    (&c.from, &pf),
                    (&c.to, &pt),
                    c.offset,
                    c.len,
                    c.serial,
                )?;
                Ok(Outcome::Done)
            }
            Step::CopyTracked(c) => {
                let paths = &self.paths;
                let path = |d: &str| {
                    paths
                        .get(d)
                        .cloned()
                        .ok_or_else(|| EngineError::UnknownDisk(d.to_owned()))
                };
                self.note = Some(copy::run(c, &path, disks)?);
                Ok(Outcome::Done)
            }
        }
    }

    fn format(&mut self, disk: &str, disks: &mut dyn Disks) -> Result<Outcome> {
        let meta = &self.plan.new_meta;
        let d = meta
            .disk(disk)
            .ok_or_else(|| EngineError::UnknownDisk(disk.to_owned()))?;
        let h = AreaHeader {
            class_uuid: meta.uuid,
            disk_uuid: d.uuid,
            disk_size: d.size,
            class_name: meta.name.clone(),
        };
        let p = self.path(disk)?;
        let base = area_base(meta, disk);
        for w in format_area(&h, meta)? {
            disks
                .write(
                    &p,
                    dmclass_model::Bytes(base.saturating_add(w.offset)),
                    &w.data,
                )
                .map_err(|e| io_err(format!("formatting disk {disk}"), e))?;
        }
        self.reread(disk, &*disks)?;
        self.report.generation = meta.generation;
        Ok(Outcome::Done)
    }

    fn write_meta(&mut self, meta: &ClassMeta, disks: &mut dyn Disks) -> Result<Outcome> {
        let names: Vec<String> = meta.disks.iter().map(|d| d.name.clone()).collect();
        let mut wrote = false;
        for n in names {
            let Some(area) = self.areas.get(&n) else {
                return Err(refuse(
                    self.plan,
                    format!("disk {n}"),
                    "no private area to update".into(),
                ));
            };
            if area.meta.generation >= meta.generation {
                continue; // already written (re-run)
            }
            let p = self.path(&n)?;
            write_next(disks, &p, &n, area, meta)?;
            self.reread(&n, &*disks)?;
            if !wrote {
                // A crash here leaves a split generation (first disk new, others old).
                self.fp.check(self.plan, self.index, When::Mid)?;
            }
            wrote = true;
        }
        self.report.generation = meta.generation;
        Ok(if wrote {
            Outcome::Done
        } else {
            Outcome::Skipped
        })
    }

    fn reread(&mut self, disk: &str, disks: &dyn Disks) -> Result<()> {
        let p = self.path(disk)?;
        match read_area_at(disk, &p, disks) {
            AreaState::Member(a) => {
                self.areas.insert(disk.to_owned(), *a);
                Ok(())
            }
            AreaState::Blank => Err(refuse(
                self.plan,
                format!("disk {disk}"),
                "the metadata just written does not read back".into(),
            )),
            AreaState::Unreadable(why) | AreaState::Hostile { reason: why, .. } => Err(refuse(
                self.plan,
                format!("disk {disk}"),
                format!("the metadata just written does not read back: {why}"),
            )),
        }
    }
}
