//! `dmclass bootenv`: boot environments of the root class (docs/boot-environments.md).
//! What an environment is, its command line, fstab and boot entries are decided in
//! `dmclass_engine::bootenv`; here: finding the root class, the support-matrix gate,
//! which environment runs, `efibootmgr`, and the proxy planner for the copies.
//!
//! * [`create`]: join, wait, part, rewrite the copy's fstab, register its entries;
//! * [`entries`]: the firmware's side (read, register, activate, delete);
//! * [`remove`]: `remove` and `rename`;
//! * [`promote`]: `promote` (recorded) and its work at the next boot.

mod create;
mod entries;
mod promote;
mod remove;

pub(super) use promote::at_boot as promote_at_boot;

use super::context::found_classes;
use crate::args::bootenv::{BootenvAction, BootenvArgs, ListArgs};
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::{self, print_json, Schema, Table};
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::bootenv::{self, list::EnvRow};
use dmclass_engine::metadata::ClassTypeMeta;
use dmclass_model::{Class, ClassType, Name, Span};
use dmclass_rules::{Facts, Function};
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// Run `bootenv`.
pub fn run(args: &BootenvArgs) -> Result<ExitCode, CliError> {
    match &args.action {
        BootenvAction::List(a) => super::change::locked(|b| list(a, b)),
        BootenvAction::Create(a) => super::change::locked_crash_tested(|b| create::create(a, b)),
        BootenvAction::Activate(a) => super::change::locked(|b| entries::activate(a, b)),
        BootenvAction::Remove(a) => super::change::locked_crash_tested(|b| remove::remove(a, b)),
        BootenvAction::Rename(a) => super::change::locked(|b| remove::rename(a, b)),
        BootenvAction::Promote(a) => super::change::locked_crash_tested(|b| promote::promote(a, b)),
    }
}

/// The root class the command works on, after the support matrix said yes to boot
/// environments on this machine (asked first: on a KVM guest or a BIOS boot the
/// answer cites the rows, whether or not a root class exists).
pub(super) fn root_class(
    backend: &mut Backend,
    want: Option<&str>,
) -> Result<(ClassOnDisks, Facts), CliError> {
    let facts = backend.facts(None)?;
    let mut roots: Vec<ClassOnDisks> = found_classes(backend)?
        .into_iter()
        .filter(|c| c.meta.class_type == ClassTypeMeta::Root)
        .collect();
    let name = want
        .map(str::to_owned)
        .or_else(|| roots.first().map(|c| c.meta.name.clone()))
        .unwrap_or_else(|| "root".into());
    let phantom = Class {
        name: Name(name.clone()),
        class_type: ClassType::Root,
        nodes: Vec::new(),
        secret_file: None,
        hot_spare: false,
        disks: Vec::new(),
        groups: Vec::new(),
        volumes: Vec::new(),
        snapshots: Vec::new(),
        span: Span::default(),
    };
    let report = dmclass_rules::gate_function(&phantom, Function::AlternativeBoot, &facts);
    crate::config::gate_report(Path::new("dmclass bootenv"), report)?;
    let i = match (want, roots.len()) {
        (Some(w), _) => roots.iter().position(|c| c.meta.name == w).ok_or_else(|| {
            CliError::Refused(format!(
                "no root class `{w}` on this machine's disks (root classes: {})",
                names(&roots)
            ))
        })?,
        (None, 1) => 0,
        (None, 0) => {
            return Err(CliError::Refused(
                "no root class on this machine's disks: boot environments are copies of a \
                 root class's volumes (docs/root-class.md)"
                    .into(),
            ))
        }
        (None, _) => {
            return Err(CliError::Refused(format!(
                "more than one root class ({}): name one with --class",
                names(&roots)
            )))
        }
    };
    Ok((roots.swap_remove(i), facts))
}

fn names(cs: &[ClassOnDisks]) -> String {
    if cs.is_empty() {
        return "none".into();
    }
    cs.iter()
        .map(|c| c.meta.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The volume or proxy of class `c` that `/` is mounted from (none under the
/// simulator, or when the root is elsewhere).
pub(super) fn mounted_root(backend: &mut Backend, c: &ClassOnDisks) -> Option<String> {
    let mounts = dmclass_linux::esp::mounts();
    let dev = dmclass_linux::esp::device_at(&mounts, Path::new("/"))?;
    let (kernel, _) = backend.parts();
    let info = kernel
        .list()
        .ok()?
        .into_iter()
        .find(|i| i.devnum.major == dev.major && i.devnum.minor == dev.minor)?;
    let (class, volume, layer) = dmclass_linux::udev_names::split_dm_name(&info.name)?;
    (class == c.meta.name && layer.is_none()).then_some(volume)
}

/// Longest `/etc/fstab` or `/proc/cmdline` read.
const MAX_TEXT: u64 = 1 << 20;

/// A text file read whole, at most [`MAX_TEXT`] bytes of it.
pub(super) fn read_bounded(path: &Path) -> Result<String, CliError> {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TEXT).read_to_string(&mut s))
        .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?;
    Ok(s)
}

/// Write class description `next` to `c`'s present disks.
pub(super) fn write(
    backend: &mut Backend,
    c: &ClassOnDisks,
    next: &dmclass_engine::metadata::ClassMeta,
) -> Result<(), CliError> {
    let (_, disks) = backend.parts();
    dmclass_engine::metadata::write_present(next, &c.present_paths(), disks)?;
    Ok(())
}

/// The kernel command line that boots environment `root` proxy of `class`, from this
/// boot's.
pub(super) fn env_line(class: &str, root: &str) -> Result<String, CliError> {
    let running = read_bounded(Path::new("/proc/cmdline"))?;
    bootenv::cmdline::env_cmdline(&running, class, root)
        .ok_or_else(|| refused("the kernel command line is too long".into()))
}

/// The refusal `why`.
pub(super) fn refused(why: String) -> CliError {
    CliError::Refused(why)
}

/// Run proxy operation `op` on `proxy` of class `class` (as on its disks now),
/// unless `done` says the class is there already; whether it ran.
pub(super) fn proxy_op(
    backend: &mut Backend,
    class: &str,
    facts: &Facts,
    proxy: &str,
    op: dmclass_engine::plan::ProxyOp,
    done: impl Fn(Option<dmclass_engine::proxy::ProxyRef<'_>>) -> bool,
) -> Result<bool, CliError> {
    let c = super::context::class_on_disks(backend, class)?;
    if done(dmclass_engine::proxy::find(&c.meta, proxy)) {
        return Ok(false);
    }
    super::proxy::run_op(backend, &c, facts, proxy, op)?;
    Ok(true)
}

/// The environment `/` is mounted from, if it is one of class `c`'s.
pub(super) fn running_env(backend: &mut Backend, c: &ClassOnDisks) -> Option<String> {
    let volume = mounted_root(backend, c)?;
    bootenv::list::env_of_device(&c.meta, &volume)
}

#[derive(Serialize)]
struct ListDoc<'a> {
    class: &'a str,
    /// The environment `/` runs from (`null`: not known, e.g. the root is elsewhere).
    running: Option<&'a str>,
    /// What the next boot starts: `{entry, label, environment, once}` (`null`: no
    /// UEFI variables).
    next_boot: Option<NextBootDoc>,
    environments: &'a [EnvRow],
}

#[derive(Serialize)]
struct NextBootDoc {
    entry: String,
    label: String,
    environment: Option<String>,
    once: bool,
}

fn list(a: &ListArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (c, _) = root_class(backend, a.class.class.as_deref())?;
    let running = running_env(backend, &c);
    let next = entries::next_boot(&c, backend)?;
    let rows = bootenv::list::rows(&c.meta, running.as_deref(), next.as_ref());
    if a.json {
        print_json(
            Schema::Bootenv,
            &ListDoc {
                class: &c.meta.name,
                running: running.as_deref(),
                next_boot: next.map(|n| NextBootDoc {
                    entry: format!("Boot{:04X}", n.entry),
                    label: n.label,
                    environment: n.env,
                    once: n.once,
                }),
                environments: &rows,
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["NAME", "STATE", "ACTIVE", "CREATED", "SPACE", "VOLUMES"]);
    for r in &rows {
        let active = match (r.active_now, r.active_next_boot, r.next_boot_once) {
            (true, true, _) => "now,next",
            (true, false, _) => "now",
            (false, true, true) => "next once",
            (false, true, false) => "next",
            (false, false, _) => "-",
        };
        let state = if r.promote_next_boot {
            format!("{} (to be the primary at the next boot)", r.state)
        } else {
            r.state.to_owned()
        };
        t.row(vec![
            r.name.clone(),
            state,
            active.to_owned(),
            r.created.clone().unwrap_or_else(|| "-".into()),
            output::human(dmclass_model::Bytes(r.space_bytes)),
            r.volumes
                .iter()
                .map(|v| format!("{}={}", v.volume, v.path))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_engine::bootenv::list::EnvVolumeRow;
    use dmclass_engine::bootenv::PRIMARY;

    #[test]
    fn the_json_document_matches_its_schema() {
        let row = |name: &str, now: bool| EnvRow {
            name: name.into(),
            state: "ready",
            volumes: vec![EnvVolumeRow {
                volume: "root".into(),
                path: format!("/dev/dmclass/sys/{name}"),
            }],
            created: (name != PRIMARY).then(|| "2026-12-07T06:00:00Z".into()),
            active_now: now,
            active_next_boot: !now,
            next_boot_once: !now,
            promote_next_boot: !now,
            space_bytes: 1 << 27,
        };
        let rows = [row(PRIMARY, true), row("upgrade", false)];
        let doc = ListDoc {
            class: "sys",
            running: Some(PRIMARY),
            next_boot: Some(NextBootDoc {
                entry: "Boot0005".into(),
                label: "dmclass sys bootenv upgrade (sys1)".into(),
                environment: Some("upgrade".into()),
                once: true,
            }),
            environments: &rows,
        };
        let (doc, v) = output::checked_json(Schema::Bootenv, &doc);
        let mut bad = doc.clone();
        bad["environments"][1]["state"] = "weird".into();
        assert!(!v.is_valid(&bad));
        let mut bad = doc.clone();
        bad["next_boot"]["entry"] = "5".into();
        assert!(!v.is_valid(&bad));
        let mut bad = doc;
        bad["environments"][1]["promote_next_boot"] = "yes".into();
        assert!(!v.is_valid(&bad));
    }
}
