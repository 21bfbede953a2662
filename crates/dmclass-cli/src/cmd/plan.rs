//! `dmclass plan`: what `apply` would do, changing nothing. How a configuration file
//! is planned lives here too: `apply` plans the same way before it runs the plans,
//! `check` to say OK exactly when `plan` would plan.

use crate::args::plan::PlanArgs;
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::{print_json, Schema};
use dmclass_engine::plan::{self, Actual, Plan, PlanOptions};
use dmclass_model::{Class, Config};
use dmclass_rules::Facts;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

#[derive(Serialize)]
struct PlanJson<'a> {
    ok: bool,
    file: String,
    environment: String,
    classes: &'a [Plan],
}

/// Plan one class of `file` against what the backend reads (or blank disks when
/// `backend` is `None`, i.e. `--facts`). Read-only: `check` runs it too. A refusal
/// carries its place in the file.
pub(super) fn plan_class(
    file: &str,
    class: &Class,
    facts: &Facts,
    backend: Option<&mut Backend>,
    opts: &PlanOptions,
) -> Result<Plan, CliError> {
    let refusal = |e| crate::config::plan_refusal(file, class, &e);
    let bindings = plan::bind_disks(class, facts).map_err(refusal)?;
    let actual = match backend {
        Some(b) => super::context::actual_here(b, &bindings)?,
        // `--facts`: no disk is read; plan as for blank disks (a new class).
        None => Actual {
            areas: bindings
                .iter()
                .map(|b| (b.name.clone(), plan::AreaState::Blank))
                .collect(),
            live: Vec::new(),
            // No table either: a root class conversion says it needs the machine.
            tables: std::collections::BTreeMap::new(),
            node: None,
        },
    };
    plan::plan(class, &bindings, &actual, opts).map_err(refusal)
}

/// Refuse a class the support matrix allows but this version does not build yet
/// (`dmclass_engine::plan::unbuilt`), at its place in `file`.
fn refuse_unbuilt(file: &str, class: &Class) -> Result<(), CliError> {
    match plan::unbuilt(class).first() {
        None => Ok(()),
        Some(u) => {
            let p = crate::error::Problem {
                message: u.refusal().to_string(),
                location: Some(crate::config::at_span(file, u.span)),
            };
            eprintln!("{p}");
            Err(CliError::Invalid {
                summary: format!(
                    "{file}: class {}: not yet supported by this version; nothing was touched",
                    u.class
                ),
                problems: vec![p],
            })
        }
    }
}

/// Plan every class of the file (see [`plan_class`]); classes not built yet are refused.
pub(super) fn plan_all(
    file: &str,
    config: &Config,
    facts: &Facts,
    mut backend: Option<&mut Backend>,
    opts: &PlanOptions,
) -> Result<Vec<Plan>, CliError> {
    let mut plans = Vec::new();
    for class in &config.classes {
        refuse_unbuilt(file, class)?;
        plans.push(plan_class(
            file,
            class,
            facts,
            backend.as_deref_mut(),
            opts,
        )?);
    }
    Ok(plans)
}

/// Print the plans (and their tables) straight to stdout: a plan of many volumes is
/// megabytes of text, never built as one string.
pub(super) fn print_plans(plans: &[Plan], tables: bool) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = plans.iter().try_for_each(|p| {
        p.write_render(&mut out)?;
        if tables && !p.is_empty() {
            p.write_tables(&mut out)?;
        }
        Ok(())
    });
    res.and_then(|()| out.flush())
        .map_err(|e: std::io::Error| CliError::Output(e.to_string()))
}

#[derive(Serialize)]
struct PlanErrorJson {
    ok: bool,
    file: String,
    errors: Vec<crate::error::Problem>,
}

/// Run `plan`.
pub fn run(args: &PlanArgs) -> Result<ExitCode, CliError> {
    let r = plan_with(args);
    if let (Err(e), true) = (&r, args.json) {
        // On stdout like a plan, so a script reads one JSON document either way.
        print_json(
            Schema::Plan,
            &PlanErrorJson {
                ok: false,
                file: args.file.display().to_string(),
                errors: e.problems(),
            },
        )?;
    }
    r
}

fn plan_with(args: &PlanArgs) -> Result<ExitCode, CliError> {
    let file = args.file.display().to_string();
    let config = crate::config::load(&args.file)?;
    let opts = PlanOptions {
        allow_destroy: args.allow_destroy,
        id_seed: None,
    };
    let (facts, plans) = if let Some(f) = &args.facts {
        let facts = crate::facts::obtain(Some(f), args.env)?;
        crate::config::gate(&args.file, &config, &facts)?;
        let plans = plan_all(&file, &config, &facts, None, &opts)?;
        (facts, plans)
    } else {
        let mut backend = Backend::open()?;
        // A netmirror's partner disk: through a connection made before (plan connects
        // nothing).
        let config = super::netmirror::with_partner_disks(&config, &backend, false)?;
        let facts = backend.facts(args.env)?;
        let gated = {
            let (_, disks) = backend.parts();
            crate::config::with_own_tables(&config, &facts, &*disks)
        };
        crate::config::gate(&args.file, &config, &gated)?;
        let plans = plan_all(&file, &config, &facts, Some(&mut backend), &opts)?;
        (facts, plans)
    };
    if args.json {
        print_json(
            Schema::Plan,
            &PlanJson {
                ok: true,
                file,
                environment: facts.environment.to_string(),
                classes: &plans,
            },
        )?;
    } else {
        if args.facts.is_some() {
            println!("(planned with --facts: disks were not read and are assumed blank)");
        }
        print_plans(&plans, args.tables)?;
    }
    Ok(ExitCode::SUCCESS)
}
