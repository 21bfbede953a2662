//! `dmclass event ACTION DEVNODE` (the udev entry point), and the reactions
//! `dmclass monitor` (`cmd/monitor/`) shares with it.
//!
//! Every decision is the engine's (`dmclass_engine::react`); this file reads the
//! machine, hands over, prints what was done, and chooses how a whole-class
//! activation runs: on a systemd machine it is handed to
//! `dmclass-activate@CLASS.service` (udev kills long RUN programs); without systemd
//! (the test VM: udevd only) it runs inline — it is the same idempotent activation.

use super::context::found_classes_on;
use crate::args::event::{EventAction, EventArgs};
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::{self, ClassOnDisks};
use dmclass_engine::react::{self, Handled, Policy};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const SYSTEMD_RUN: &str = "/run/systemd/system";

/// Run `event` (from a udev rule).
pub fn event(args: &EventArgs) -> Result<ExitCode, CliError> {
    if args.action == EventAction::Probe && crate::simdir::sim_dir().is_none() {
        // No device-mapper needed to read a label (udev runs this for every disk).
        return Ok(probe(&args.devnode, &dmclass_linux::LinuxDisks::new()));
    }
    // udev holds the event until this handler ends: wait briefly for another dmclass
    // command (which may itself be waiting for udev), then leave the work to it.
    // A `change` is mostly udev's watch reporting a write — often dmclass's own
    // metadata write by the command holding the lock: do not queue behind it.
    let wait = if args.action == EventAction::Change {
        Duration::ZERO
    } else {
        Duration::from_secs(5)
    };
    let Some(_lock) = crate::lock::acquire(crate::lock::Wait::AtMost(wait))? else {
        eprintln!(
            "dmclass: another dmclass command is running; event {:?} {} not handled (run `dmclass event add {}` or `dmclass activate` once it is done)",
            args.action,
            args.devnode.display(),
            args.devnode.display()
        );
        log::warn!(
            "event for {} skipped: command lock busy",
            args.devnode.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let mut backend = Backend::open_in_udev()?;
    let result = event_with(args, &mut backend);
    backend.finish()?;
    result
}

/// What an event handler looks at: this machine's disks (probed once), the classes on
/// them (scanned once) and the reaction policy derived from both. udev runs a handler
/// per disk event, so every extra probe or scan costs once per disk at boot.
struct Look {
    all: Vec<PathBuf>,
    classes: Vec<ClassOnDisks>,
    policy: Policy,
}

fn look(backend: &mut Backend, degraded: bool) -> Result<Look, CliError> {
    let facts = backend.facts(None)?;
    let all: Vec<PathBuf> = facts.disks.iter().map(|d| d.devnode.clone()).collect();
    let classes = found_classes_on(backend, &all);
    let mut policy = Policy {
        degraded,
        node: super::lease::node_name(backend).ok(),
        ..Policy::default()
    };
    for c in &classes {
        for d in &c.present {
            let ctrl = facts
                .disks
                .iter()
                .find(|f| f.devnode == d.path)
                .and_then(|f| f.controller.clone());
            if let Some(ctrl) = ctrl {
                policy.controllers.insert(d.name.clone(), ctrl);
            }
        }
    }
    Ok(Look {
        all,
        classes,
        policy,
    })
}

/// Print and log what was done; `to_stdout: false` (the monitor, whose stdout is
/// its event stream) only logs. Whether something was refused.
fn report(h: &Handled, to_stdout: bool) -> bool {
    for l in &h.carried.done {
        if to_stdout {
            println!("{l}");
        }
        log::info!("{l}");
    }
    for w in &h.carried.warnings {
        if to_stdout {
            eprintln!("dmclass: {w}");
        }
        log::warn!("{w}");
    }
    h.carried.warnings.iter().any(|w| w.contains("refused"))
}

/// What udev's `add` of `devnode` does, run by a command that holds the lock (`apply`
/// after writing a replacement disk: the running class takes it in at once).
pub(super) fn readd(devnode: &Path, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let args = EventArgs {
        action: EventAction::Add,
        devnode: devnode.to_path_buf(),
        degraded: false,
    };
    event_with(&args, backend)
}

/// What udev's `add` of `devnode` does, for a shared class whose class lease the
/// caller holds (`activate` of a netmirror class whose partner disk returned after a
/// forced start: it is taken back and resynced from this node's disk). Whether the
/// disk was taken in.
pub(super) fn readd_under_lease(
    devnode: &Path,
    class: uuid::Uuid,
    backend: &mut Backend,
) -> Result<bool, CliError> {
    let Look {
        all, policy: mut p, ..
    } = look(backend, false)?;
    p.reappeared = true;
    p.leased_class = Some(class);
    let (kernel, disks) = backend.parts();
    Ok(match react::disk_added(devnode, &all, kernel, disks, &p)? {
        Some(h) => !report(&h, true),
        None => false,
    })
}

fn event_with(args: &EventArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    match args.action {
        EventAction::Probe => {
            let (_, disks) = backend.parts();
            Ok(probe(&args.devnode, &*disks))
        }
        EventAction::Add | EventAction::Change => {
            let Look {
                all,
                classes,
                policy: mut p,
            } = look(backend, args.degraded)?;
            p.reappeared = matches!(args.action, EventAction::Add);
            let (kernel, disks) = backend.parts();
            let h = match react::disk_added(&args.devnode, &all, kernel, disks, &p)? {
                Some(h) => h,
                // A shared class's disk: handled under its class lease, on the node
                // that runs its volumes; elsewhere nothing (not ours, or not here).
                None => match shared_disk_added(&args.devnode, &all, &classes, &p, backend)? {
                    Some(h) => h,
                    None => return Ok(ExitCode::SUCCESS),
                },
            };
            let refused = report(&h, true);
            if let Some(degraded) = h.carried.activate {
                start_class(&h.class, degraded, backend)?;
            }
            Ok(if refused {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        EventAction::Remove => {
            reconcile(backend, true)?;
            Ok(ExitCode::SUCCESS)
        }
        EventAction::Reconnected => {
            super::netmirror::restore_after_reconnect(backend, &args.devnode)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The label read from `dev`'s two header copies only (8 KiB from byte 4096).
fn header_label(dev: &Path, disks: &dyn dmclass_engine::io::Disks) -> Option<react::DiskLabel> {
    let bytes = disks.read(dev, dmclass_model::Bytes(4096), 8192).ok()?;
    react::probe_label(&bytes)
}

/// `IMPORT{program}`: both header copies only (8 KiB from byte 4096).
fn probe(dev: &Path, disks: &dyn dmclass_engine::io::Disks) -> ExitCode {
    let Ok(bytes) = disks.read(dev, dmclass_model::Bytes(4096), 8192) else {
        return ExitCode::from(1);
    };
    match react::udev_probe(&bytes) {
        Some(props) => {
            print!("{props}");
            ExitCode::SUCCESS
        }
        None => ExitCode::from(1),
    }
}

fn start_class(c: &ClassOnDisks, degraded: bool, backend: &mut Backend) -> Result<(), CliError> {
    let name = &c.meta.name;
    if matches!(backend, Backend::Real { .. }) && Path::new(SYSTEMD_RUN).exists() {
        let unit = format!("dmclass-activate@{name}.service");
        let st = std::process::Command::new("systemctl")
            .args(["start", "--no-block", &unit])
            .status()
            .map_err(|e| CliError::Refused(format!("cannot start {unit}: {e}")))?;
        if !st.success() {
            return Err(CliError::Refused(format!(
                "systemctl start {unit} failed: {st}"
            )));
        }
        println!("class {name}: activation handed to {unit}");
        return Ok(());
    }
    let (kernel, disks) = backend.parts();
    let r = assemble::recover::activate_recovering(c, kernel, disks, &mut |p| log::info!("{p}"))?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for (v, why) in &r.skipped {
        eprintln!("class {name}: volume {v} not started: {why}");
    }
    println!(
        "class {name}: {} started, {} degraded{}",
        r.started.len(),
        r.degraded.len(),
        if degraded { " (disks missing)" } else { "" }
    );
    Ok(())
}

/// React to the live state of every class (a dm event, a removed disk); whether
/// anything was done. `to_stdout`: as [`report`]. Shared classes whose volumes run
/// here are handled under their class lease, one at a time.
pub(super) fn reconcile(backend: &mut Backend, to_stdout: bool) -> Result<bool, CliError> {
    let Look {
        all,
        classes,
        policy: p,
    } = look(backend, false)?;
    let (kernel, disks) = backend.parts();
    let mut handled = react::dm_event(&all, kernel, disks, &p)?;
    // Shared classes: the local pass above leaves them alone, so the classes found
    // before it still describe them.
    for c in &classes {
        let more = under_class_lease(backend, c, |b| {
            let mut p = p.clone();
            p.leased_class = Some(c.meta.uuid);
            let (kernel, disks) = b.parts();
            Ok(react::dm_event(&all, kernel, disks, &p)?)
        })?;
        handled.extend(more.into_iter().flatten());
    }
    for h in &handled {
        report(h, to_stdout);
    }
    Ok(!handled.is_empty())
}

/// Run `f` under shared class `c`'s class lease when this node runs its volumes
/// (holds a volume lease); `None` otherwise — another node's class is that node's
/// to handle — and when the class lease is busy (another node changes the class:
/// logged; the next event, or the monitor's next look, tries again). Netmirror classes
/// are left to their own paths (a returning link refreshes the leg; `activate` takes
/// a returning partner disk back).
fn under_class_lease<T>(
    backend: &mut Backend,
    c: &ClassOnDisks,
    f: impl FnOnce(&mut Backend) -> Result<T, CliError>,
) -> Result<Option<T>, CliError> {
    if !super::lease::is_shared(&c.meta) || super::netmirror::is_netmirror(&c.meta) {
        return Ok(None);
    }
    let paths = c.present_paths();
    let cl = match super::lease::class_leases(backend, &c.meta, &paths) {
        Ok(cl) => cl,
        Err(e) => {
            log::info!("class {}: not handled here: {e}", c.meta.name);
            return Ok(None);
        }
    };
    if !super::lease::runs_here(backend, &cl) {
        log::info!(
            "class {}: not handled here: no volume of it runs on this node",
            c.meta.name
        );
        return Ok(None);
    }
    if let Err(e) = super::lease::take(backend, &c.meta, &cl, &[], CLASS_LEASE_WAIT) {
        log::warn!("class {}: not handled now: {e}", c.meta.name);
        return Ok(None);
    }
    let out = f(backend);
    super::lease::give_back(backend, &cl, &[None])?;
    out.map(Some)
}

/// How long an event waits for a shared class's class lease (a change on another
/// node holds it for the change's length).
const CLASS_LEASE_WAIT: Duration = Duration::from_secs(10);

/// udev's `add`/`change` of a disk of a shared class whose volumes run here: the same
/// reaction as for a local class, under the class lease.
fn shared_disk_added(
    dev: &Path,
    all: &[PathBuf],
    classes: &[ClassOnDisks],
    p: &Policy,
    backend: &mut Backend,
) -> Result<Option<Handled>, CliError> {
    // The class its label names (the scan may know the disk by another name).
    let Some(uuid) = ({
        let (_, disks) = backend.parts();
        header_label(dev, &*disks).map(|l| l.class_uuid)
    }) else {
        log::debug!("{}: no dmclass label", dev.display());
        return Ok(None);
    };
    let Some(c) = classes.iter().find(|c| c.meta.uuid == uuid) else {
        log::info!(
            "{}: its class {uuid} is not found on the disks",
            dev.display()
        );
        return Ok(None);
    };
    let done = under_class_lease(backend, c, |b| {
        let mut p = p.clone();
        p.leased_class = Some(uuid);
        let (kernel, disks) = b.parts();
        Ok(react::disk_added(dev, all, kernel, disks, &p)?)
    })?;
    Ok(done.flatten())
}
