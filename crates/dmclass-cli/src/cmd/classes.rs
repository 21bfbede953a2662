//! Commands on classes found on disk: `status`, `activate`, `deactivate`, `export`.

use crate::args::{ActivateArgs, DeactivateArgs, ExportArgs, StatusArgs};
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::print_json;
use dmclass_engine::assemble::{self, ClassOnDisks};
use dmclass_engine::state::{self, ClassStatus};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Every class whose metadata is on this machine's disks.
pub(super) fn found_classes(backend: &mut Backend) -> Result<Vec<ClassOnDisks>, CliError> {
    let facts = backend.facts(None)?;
    let paths: Vec<_> = facts.disks.iter().map(|d| d.devnode.clone()).collect();
    let (_, disks) = backend.parts();
    let scan = assemble::scan(&paths, &*disks);
    for (path, why) in &scan.damaged {
        eprintln!(
            "warning: {}: dmclass metadata is damaged and was not used: {why}",
            path.display()
        );
    }
    for h in &scan.hostile {
        eprintln!(
            "warning: {}: dmclass label of class {} is not trusted (DISABLE, not used, not written): {}",
            h.path.display(),
            h.area.meta.name,
            h.reason
        );
    }
    Ok(assemble::classes_of(&scan))
}

fn not_found(name: &str, classes: &[ClassOnDisks]) -> CliError {
    let known: Vec<&str> = classes.iter().map(|c| c.meta.name.as_str()).collect();
    CliError::Refused(format!(
        "no class `{name}` on this machine's disks (found: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// Pick the named classes, refusing unknown names before anything is done.
pub(super) fn select<'a>(
    classes: &'a [ClassOnDisks],
    names: &[String],
) -> Result<Vec<&'a ClassOnDisks>, CliError> {
    names
        .iter()
        .map(|n| {
            classes
                .iter()
                .find(|c| &c.meta.name == n)
                .ok_or_else(|| not_found(n, classes))
        })
        .collect()
}

#[derive(Serialize)]
struct StatusJson<'a> {
    classes: &'a [ClassStatus],
}

fn collect_status(backend: &mut Backend, only: Option<&str>) -> Result<Vec<ClassStatus>, CliError> {
    let classes = found_classes(backend)?;
    let chosen: Vec<&ClassOnDisks> = match only {
        Some(n) => select(&classes, &[n.to_string()])?,
        None => classes.iter().collect(),
    };
    let (kernel, _) = backend.parts();
    let mut out = Vec::new();
    for c in chosen {
        for s in &c.stale {
            eprintln!(
                "warning: class {}: disk {} ({}) holds an older generation {} and is not trusted",
                c.meta.name,
                s.name,
                s.path.display(),
                s.generation
            );
        }
        out.push(state::class_on_disks_status(c, &*kernel)?);
    }
    Ok(out)
}

fn resyncing(classes: &[ClassStatus]) -> bool {
    classes.iter().any(|c| {
        c.volumes
            .iter()
            .any(|v| v.sync_percent.is_some_and(|p| p < 100.0))
    })
}

/// One bar per resyncing volume, for `status --watch`.
fn progress_bars(classes: &[ClassStatus]) -> String {
    const WIDTH: usize = 40;
    let mut out = String::new();
    for c in classes {
        for v in &c.volumes {
            let Some(p) = v.sync_percent.filter(|p| *p < 100.0) else {
                continue;
            };
            // A percentage is 0..=100, so the cast cannot truncate meaningfully.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let done = ((p.clamp(0.0, 100.0) / 100.0) * WIDTH as f64) as usize;
            let _ = write!(
                out,
                "\nCOPY {}/{} [{}{}] {p:5.1}%",
                c.name,
                v.name,
                "#".repeat(done),
                ".".repeat(WIDTH - done)
            );
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

pub fn status(args: &StatusArgs) -> Result<ExitCode, CliError> {
    let mut backend = Backend::open()?;
    let tty = std::io::stdout().is_terminal();
    loop {
        // No lock: status must answer while a long change runs (it reads each disk's
        // newest valid slot; a change half-way through its metadata writes shows up as
        // a warning about an older generation on some disk).
        let all = collect_status(&mut backend, args.class.as_deref())?;
        if args.watch && tty {
            // Clear the screen and home the cursor, like watch(1).
            print!("\x1b[2J\x1b[H");
        }
        if args.json {
            print_json(&StatusJson { classes: &all })?;
        } else if all.is_empty() {
            println!("no dmclass class found on this machine's disks");
        } else {
            print!("{}", state::render(&all));
            if args.watch {
                print!("{}", progress_bars(&all));
            }
        }
        if !args.watch || (!tty && !resyncing(&all)) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

pub fn activate(args: &ActivateArgs) -> Result<ExitCode, CliError> {
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = activate_with(args, &mut backend);
    backend.finish()?;
    result
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
            if !args.yes && !super::apply::confirm("Start the class this way?", "activate --force")?
            {
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
        // Merges the kernel finished (a snapshot-merge started now or earlier).
        if super::snapshot::finish_merges(backend, c)? {
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

pub fn deactivate(args: &DeactivateArgs) -> Result<ExitCode, CliError> {
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = deactivate_with(args, &mut backend);
    backend.finish()?;
    result
}

fn deactivate_with(args: &DeactivateArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let classes = found_classes(backend)?;
    // Unknown names are refused before any class is touched.
    let chosen = select(&classes, &args.classes)?;
    for c in chosen {
        let (kernel, _) = backend.parts();
        let removed = assemble::deactivate(&c.meta.name, kernel)?;
        println!(
            "class {}: stopped ({} device(s) removed)",
            c.meta.name,
            removed.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: &ExportArgs) -> Result<ExitCode, CliError> {
    let mut backend = Backend::open()?;
    let classes = found_classes(&mut backend)?;
    let c = select(&classes, std::slice::from_ref(&args.class))?[0];
    let config = dmclass_engine::export::export(&c.meta)?;
    print!("{}", dmclass_model::to_yaml(&config));
    Ok(ExitCode::SUCCESS)
}
