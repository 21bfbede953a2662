//! `dmclass plan` and `dmclass apply`.

use crate::args::{ApplyArgs, PlanArgs};
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::print_json;
use dmclass_engine::plan::{self, Actual, Plan, PlanOptions};
use dmclass_model::{Class, Config};
use dmclass_rules::Facts;
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
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
        Some(b) => {
            let (kernel, disks) = b.parts();
            plan::read_actual(&bindings, &*disks, &*kernel)?
        }
        // `--facts`: no disk is read; plan as for blank disks (a new class).
        None => Actual {
            areas: bindings
                .iter()
                .map(|b| (b.name.clone(), plan::AreaState::Blank))
                .collect(),
            live: Vec::new(),
        },
    };
    plan::plan(class, &bindings, &actual, opts).map_err(refusal)
}

/// Refuse a class the support matrix allows but this version does not build yet
/// (`dmclass_engine::plan::unbuilt`), at its place in `file`.
pub(super) fn refuse_unbuilt(file: &str, class: &Class) -> Result<(), CliError> {
    match plan::unbuilt(class).first() {
        None => Ok(()),
        Some(u) => {
            let p = crate::error::Problem {
                message: u.refusal().to_string(),
                location: Some(format!("{file}:{}:{}", u.span.line, u.span.column)),
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
fn plan_all(
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
fn print_plans(plans: &[Plan], tables: bool) -> Result<(), CliError> {
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

pub fn plan(args: &PlanArgs) -> Result<ExitCode, CliError> {
    let r = plan_with(args);
    if let (Err(e), true) = (&r, args.json) {
        // On stdout like a plan, so a script reads one JSON document either way.
        print_json(&PlanErrorJson {
            ok: false,
            file: args.file.display().to_string(),
            errors: e.problems(),
        })?;
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
        let facts = backend.facts(args.env)?;
        crate::config::gate(&args.file, &config, &facts)?;
        let plans = plan_all(&file, &config, &facts, Some(&mut backend), &opts)?;
        (facts, plans)
    };
    if args.json {
        print_json(&PlanJson {
            ok: true,
            file,
            environment: facts.environment.to_string(),
            classes: &plans,
        })?;
    } else {
        if args.facts.is_some() {
            println!("(planned with --facts: disks were not read and are assumed blank)");
        }
        print_plans(&plans, args.tables)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Ask on the terminal; without one, refuse rather than guess. `what` names the
/// change in the refusal (`apply`, `restore`).
pub(super) fn confirm(prompt: &str, what: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Refused(format!(
            "not confirmed: standard input is not a terminal; use --yes to {what} without asking; nothing was changed"
        )));
    }
    eprint!("{prompt} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Output(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES"))
}

pub fn apply(args: &ApplyArgs) -> Result<ExitCode, CliError> {
    let config = crate::config::load(&args.file)?;
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = apply_with(args, &config, &mut backend);
    // The simulated world keeps whatever was done, also on failure.
    backend.finish()?;
    crate::failpoint::exit_if_failpoint(&result);
    result
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
    if !args.yes && !confirm("Apply these changes?", "apply")? {
        return Err(CliError::Refused(
            "not confirmed; nothing was changed".into(),
        ));
    }
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
        let report = crate::failpoint::execute(p, &bindings, backend)?;
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

/// A plan that parts a proxy creates the proxy's own device; refuse it (before any
/// plan runs) while the copy to that proxy is unfinished, as `dmclass proxy part` does.
fn check_proxies_in_sync(plans: &[Plan], backend: &mut Backend) -> Result<(), CliError> {
    let (kernel, _) = backend.parts();
    for p in plans {
        for proxy in dmclass_engine::proxy::proxies(&p.new_meta) {
            let Ok(dev) = dmclass_engine::names::dm_name(
                &p.class,
                proxy.name,
                dmclass_engine::names::Layer::Top,
            ) else {
                continue;
            };
            let parts = p
                .actions
                .iter()
                .any(|a| a.kind == dmclass_engine::plan::ActionKind::Create && a.object == dev);
            if parts {
                dmclass_engine::proxy::check_in_sync(&*kernel, &p.new_meta, proxy.name)?;
            }
        }
    }
    Ok(())
}
