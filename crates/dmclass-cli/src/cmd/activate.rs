//! `dmclass activate`: assemble classes from the metadata on their disks and start
//! their volumes (`--force`: a class the closing rule keeps down).

use super::change;
use super::context::{confirm, finish_merges, found_classes, select};
use crate::args::activate::ActivateArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::{self, ClassOnDisks};
use std::process::ExitCode;

/// Run `activate`.
pub fn run(args: &ActivateArgs) -> Result<ExitCode, CliError> {
    change::locked(|backend| activate_with(args, backend))
}

fn activate_with(args: &ActivateArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let classes = found_classes(backend)?;
    let chosen: Vec<&ClassOnDisks> = if args.all {
        classes.iter().collect()
    } else {
        select(&classes, &args.classes)?
    };
    if chosen.is_empty() {
        println!("no dmclass class found on this machine's disks");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0usize;
    for c in &chosen {
        for m in &c.missing {
            eprintln!("warning: class {}: disk {m} is missing", c.meta.name);
        }
        let (kernel, disks) = backend.parts();
        let mut progress = |line: &str| log::info!("{line}");
        // Finishes an interrupted apply and repairs lagging metadata first; refuses a
        // closed class (unless --force, which says what it will do and asks).
        let r = if args.force {
            let plan = assemble::force::plan(c, &*disks)?;
            eprintln!("class {}: activate --force will:", c.meta.name);
            for l in &plan.lines {
                eprintln!("  {l}");
            }
            if !args.yes && !confirm("Start the class this way?", "activate --force")? {
                return Err(CliError::Refused(format!(
                    "class {}: not confirmed; nothing was changed",
                    c.meta.name
                )));
            }
            assemble::force::activate_forced(c, &plan, kernel, disks, &mut progress)?
        } else {
            assemble::recover::activate_recovering(c, kernel, disks, &mut progress)?
        };
        let own = format!("class {}: ", c.meta.name);
        for w in &r.warnings {
            // Engine warnings usually name the class already.
            eprintln!("warning: {own}{}", w.strip_prefix(&own).unwrap_or(w));
        }
        for (v, why) in &r.skipped {
            eprintln!("class {}: volume {v} not started: {why}", c.meta.name);
        }
        failed += r.skipped.len();
        for v in &r.manual {
            println!(
                "class {}: volume {v} left inactive (autostart: false)",
                c.meta.name
            );
        }
        // Merges the kernel finished (a snapshot-merge started now or earlier).
        if finish_merges(backend, c)? {
            println!("class {}: finished snapshot merge(s)", c.meta.name);
        }
        println!(
            "class {}: {} started, {} already active, {} degraded, {} not started",
            c.meta.name,
            r.started.len(),
            r.already_active.len(),
            r.degraded.len(),
            r.skipped.len()
        );
    }
    let names: Vec<&str> = chosen.iter().map(|c| c.meta.name.as_str()).collect();
    super::wait::public_paths(backend, &names, args.no_udev_wait)?;
    if failed > 0 {
        return Err(CliError::Refused(format!(
            "{failed} volume(s) could not be started"
        )));
    }
    Ok(ExitCode::SUCCESS)
}
