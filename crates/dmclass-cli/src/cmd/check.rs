//! `dmclass check`: schema, references, support matrix, devices, and every test `plan`
//! makes (capacity, disk sizes, what the planner refuses), read-only, so that `check`
//! says OK exactly when `plan` would plan. What the matrix allows but this version does
//! not build yet is a `note:`, not an error (the verdict stays the matrix's).

use crate::args::check::CheckArgs;
use crate::backend::Backend;
use crate::error::{CliError, Problem};
use crate::output::{print_json, Schema};
use dmclass_engine::plan::PlanOptions;
use dmclass_rules::{Facts, Report};
use serde::Serialize;
use std::process::ExitCode;

/// `check --json`. On failure only `ok`, `file` and `errors` are present.
#[derive(Serialize)]
struct CheckJson<'a> {
    ok: bool,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<String>,
    errors: Vec<Problem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a Report>,
}

/// What a passing check found.
struct Checked {
    facts: Facts,
    report: Report,
    notes: Vec<Problem>,
}

/// Run `check`.
pub fn run(args: &CheckArgs) -> Result<ExitCode, CliError> {
    let file = args.file.display().to_string();
    let c = match check(args, &file) {
        Ok(c) => c,
        Err(e) => {
            if args.json {
                print_json(
                    Schema::Check,
                    &CheckJson {
                        ok: false,
                        file,
                        environment: None,
                        boot: None,
                        errors: e.problems(),
                        notes: Vec::new(),
                        report: None,
                    },
                )?;
            }
            return Err(e);
        }
    };
    if args.json {
        print_json(
            Schema::Check,
            &CheckJson {
                ok: true,
                file,
                environment: Some(c.facts.environment.to_string()),
                boot: Some(c.facts.boot.to_string()),
                errors: Vec::new(),
                notes: c.notes,
                report: Some(&c.report),
            },
        )?;
    } else {
        for n in &c.notes {
            println!("note: {n}");
        }
        let warnings = if c.report.warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warning(s)", c.report.warnings.len())
        };
        println!(
            "{file}: OK for {} ({} boot){warnings}",
            c.facts.environment, c.facts.boot
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: &CheckArgs, file: &str) -> Result<Checked, CliError> {
    let config = crate::config::load(&args.file)?;
    let facts = crate::facts::obtain(args.facts.as_deref(), args.env)?;
    // Without --facts, read the disks as `plan` does; where no device-mapper can be
    // opened (a workstation) plan as for blank disks, as `--facts` does.
    let mut backend = match args.facts {
        Some(_) => None,
        None => match Backend::open() {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("note: {e}; planned as for blank disks");
                None
            }
        },
    };
    let gated = match backend.as_mut() {
        Some(b) => {
            let (_, disks) = b.parts();
            crate::config::with_own_tables(&config, &facts, &*disks)
        }
        None => facts.clone(),
    };
    let report = crate::config::gate(&args.file, &config, &gated)?;
    let opts = PlanOptions {
        allow_destroy: false,
        // Deterministic and cheap: the plan is only looked at, never run.
        id_seed: Some(0),
    };
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    for class in &config.classes {
        let unbuilt = dmclass_engine::plan::unbuilt(class);
        if !unbuilt.is_empty() {
            // `plan` refuses the class before planning; nothing more to learn.
            notes.extend(unbuilt.iter().map(|u| Problem {
                message: format!(
                    "class {}: {}: allowed by the support matrix; not yet supported by this version ({})",
                    u.class, u.object, u.why
                ),
                location: Some(crate::config::at_span(file, u.span)),
            }));
            continue;
        }
        if backend.is_none() {
            if let Some(keep) = class
                .disks
                .iter()
                .find(|d| d.role == dmclass_model::DiskRole::Keep)
            {
                // A facts file carries no partition table to plan the conversion from.
                notes.push(Problem {
                    message: format!(
                        "class {}: the conversion of keep disk {} is decided from its partition table, which a facts file does not carry: run `dmclass plan` on the machine to see it",
                        class.name.as_str(),
                        keep.name.as_str()
                    ),
                    location: Some(crate::config::at_span(file, keep.span)),
                });
                continue;
            }
        }
        match super::plan::plan_class(file, class, &facts, backend.as_mut(), &opts) {
            Ok(_) => {}
            Err(e) => problems.extend(e.problems()),
        }
    }
    if problems.is_empty() {
        Ok(Checked {
            facts,
            report,
            notes,
        })
    } else {
        Err(CliError::Invalid {
            summary: format!(
                "{file}: {} reason(s) why this configuration cannot be applied here",
                problems.len()
            ),
            problems,
        })
    }
}
