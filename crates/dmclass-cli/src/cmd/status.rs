//! `dmclass status [CLASS] [--json] [--watch]`: classes as they are on disk and in the
//! kernel.

use super::context::{found_classes, select};
use crate::args::status::StatusArgs;
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::{print_json, Schema};
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::state::{self, ClassStatus};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;

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

/// Run `status`.
pub fn run(args: &StatusArgs) -> Result<ExitCode, CliError> {
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
            print_json(Schema::Status, &StatusJson { classes: &all })?;
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
