//! `dmclass apply`: plan the configuration file (as `plan` does), ask, run the plans,
//! and wait for the volumes' paths.

use super::change;
use super::context::confirmed;
use super::plan::{plan_all, print_plans};
use crate::args::apply::ApplyArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::plan::{self, ActionKind, Plan, PlanOptions};
use dmclass_model::Config;
use std::process::ExitCode;

/// Run `apply`.
pub fn run(args: &ApplyArgs) -> Result<ExitCode, CliError> {
    let config = crate::config::load(&args.file)?;
    change::locked_crash_tested(|backend| apply_with(args, &config, backend))
}

fn apply_with(
    args: &ApplyArgs,
    config: &Config,
    backend: &mut Backend,
) -> Result<ExitCode, CliError> {
    // A netmirror: this node's disk exported, the partner's connected, before the probe.
    let config = &super::netmirror::with_partner_disks(config, backend, true)?;
    let facts = backend.facts(args.env)?;
    let gated = {
        let (_, disks) = backend.parts();
        crate::config::with_own_tables(config, &facts, &*disks)
    };
    crate::config::gate(&args.file, config, &gated)?;
    let opts = PlanOptions {
        allow_destroy: args.allow_destroy,
        id_seed: None,
    };
    let file = args.file.display().to_string();
    let plans = plan_all(&file, config, &facts, Some(backend), &opts)?;
    // The plan once; --quiet leaves it out only when nobody is asked to confirm it.
    if !(crate::output::quiet() && args.yes) {
        print_plans(&plans, false)?;
    }
    if plans.iter().all(Plan::is_empty) {
        return Ok(ExitCode::SUCCESS);
    }
    check_boot_ready(&plans)?;
    let prompt: Vec<String> = plans
        .iter()
        .filter(|p| !p.is_empty())
        .map(Plan::summary)
        .chain(std::iter::once("Apply these changes?".to_string()))
        .collect();
    confirmed(args.yes, &prompt.join("\n"), "apply")?;
    check_proxies_in_sync(&plans, backend)?;
    for p in &plans {
        if p.is_empty() {
            continue;
        }
        let bindings = plan::bind_disks(
            config
                .classes
                .iter()
                .find(|c| c.name.as_str() == p.class)
                .ok_or_else(|| {
                    CliError::Refused(format!("class {} vanished from the plan", p.class))
                })?,
            &facts,
        )?;
        let report = change::execute(p, &bindings, backend)?;
        println!(
            "class {}: applied {} action(s), generation {}",
            p.class,
            report.done.len(),
            report.generation
        );
        if is_conversion(p) && p.new_meta.generation > 1 && class_live(backend, p)? {
            // A replacement on the running class: take the new disk in at once.
            for a in p
                .actions
                .iter()
                .filter(|a| a.kind == ActionKind::FormatArea)
            {
                let name = a.object.to_string();
                if let Some(b) = bindings.iter().find(|b| b.name == name) {
                    println!(
                        "class {}: re-adding disk {name} ({}): every slice is rebuilt in full",
                        p.class,
                        b.path.display()
                    );
                    super::event::readd(&b.path, backend)?;
                }
            }
            println!(
                "class {}: `dmclass status` shows the rebuild; run `dmclass esp sync` to register the new disk's boot entry",
                p.class
            );
            continue;
        }
        if is_conversion(p) {
            println!(
                "class {}: reboot to finish: the initramfs assembles the class and copies the kept partitions to the other disks (`dmclass status` shows the copy)",
                p.class
            );
            // The ESPs are equal now; what keeps them so is not part of apply.
            println!(
                "class {}: note: each disk has its own EFI system partition: after the reboot run `dmclass esp sync` once (one UEFI boot entry per disk); the kernel and initramfs hooks run it after every update, run it yourself after a boot loader update (docs/root-class.md)",
                p.class
            );
            continue;
        }
        for v in &p.new_meta.volumes {
            println!(
                "  {}",
                dmclass_engine::names::user_path(&p.class, &v.name).display()
            );
        }
    }
    // A converted root class has no device until the next boot.
    let classes: Vec<&str> = plans
        .iter()
        .filter(|p| !is_conversion(p))
        .map(|p| p.class.as_str())
        .collect();
    super::wait::public_paths(backend, &classes, args.no_udev_wait)?;
    Ok(ExitCode::SUCCESS)
}

/// Refuse, before any plan runs, a plan that parts a proxy whose copy is unfinished
/// (the executor checks each plan again; this keeps a refused part from following a
/// class already changed).
fn check_proxies_in_sync(plans: &[Plan], backend: &mut Backend) -> Result<(), CliError> {
    let (kernel, _) = backend.parts();
    for p in plans {
        dmclass_engine::exec::check_parts_in_sync(p, &*kernel)?;
    }
    Ok(())
}

/// Whether any dm device of `plan`'s class exists (the class runs).
fn class_live(backend: &mut Backend, plan: &Plan) -> Result<bool, CliError> {
    let (kernel, _) = backend.parts();
    Ok(!dmclass_engine::names::class_devices(plan.class_uuid, &*kernel)?.is_empty())
}

/// Whether `plan` converts a kept system disk (a root class's first apply).
fn is_conversion(plan: &Plan) -> bool {
    // A resumed conversion may have only the last steps left (zero, format).
    plan.new_meta.class_type == dmclass_engine::metadata::ClassTypeMeta::Root
        && plan.actions.iter().any(|a| {
            matches!(
                a.kind,
                ActionKind::WritePartitionTable | ActionKind::CopyEsp | ActionKind::FormatArea
            )
        })
}

/// Where the initramfs's local-top script records that it ran (initramfs-tools/).
const INITRAMFS_MARK: &str = "/run/dmclass/initramfs";

/// Refuse to convert the system disk unless this boot went through dmclass's
/// initramfs script: after the conversion only that script assembles the root class
/// (the next boot uses the same initramfs, regenerated with the same hook).
fn check_boot_ready(plans: &[Plan]) -> Result<(), CliError> {
    let Some(p) = plans.iter().find(|p| is_conversion(p)) else {
        return Ok(());
    };
    if crate::simdir::sim_dir().is_some() || std::path::Path::new(INITRAMFS_MARK).exists() {
        return Ok(());
    }
    Err(CliError::Refused(format!(
        "class {}: this system was not booted through dmclass's initramfs script ({INITRAMFS_MARK} is missing), so the converted disks would not be assembled at the next boot; install dmclass's initramfs-tools hook (/usr/share/initramfs-tools/ hooks/dmclass and scripts/local-top/dmclass), run `update-initramfs -u`, reboot, and apply again; nothing was changed",
        p.class
    )))
}
