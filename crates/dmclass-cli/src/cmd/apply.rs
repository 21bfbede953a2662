//! `dmclass apply`: plan the configuration file (as `plan` does), ask, run the plans,
//! and wait for the volumes' paths.

use super::change;
use super::context::confirmed;
use super::plan::{plan_all, print_plans};
use crate::args::apply::ApplyArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::plan::{self, Plan, PlanOptions};
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
    let facts = backend.facts(args.env)?;
    crate::config::gate(&args.file, config, &facts)?;
    let opts = PlanOptions {
        allow_destroy: args.allow_destroy,
        id_seed: None,
    };
    let file = args.file.display().to_string();
    let plans = plan_all(&file, config, &facts, Some(backend), &opts)?;
    print_plans(&plans, false)?;
    if plans.iter().all(Plan::is_empty) {
        return Ok(ExitCode::SUCCESS);
    }
    confirmed(args.yes, "Apply these changes?", "apply")?;
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
        for v in &p.new_meta.volumes {
            println!(
                "  {}",
                dmclass_engine::names::user_path(&p.class, &v.name).display()
            );
        }
    }
    let classes: Vec<&str> = plans.iter().map(|p| p.class.as_str()).collect();
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
