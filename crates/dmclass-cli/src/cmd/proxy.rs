//! `dmclass proxy join|part|rejoin|restore|break`: GDS proxy volumes (mechanism in
//! `dmclass_engine::proxy`).
//!
//! `join` is the declarative path in imperative form (the class as on disk, with the
//! proxy added `state: joined`, through validation, the support-matrix gate, planner
//! and executor, like `snapshot create`). The other operations run the engine's proxy
//! plan; `part` first checks that the copy to the proxy has finished.

use super::change;
use super::context::{changed_config, class_on_disks, confirmed, no_such, plan_on_disks};
use crate::args::proxy::{ProxyAction, ProxyArgs, ProxyJoinArgs};
use crate::args::values::ObjRef;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::plan::{self, PlanOptions, ProxyOp};
use dmclass_model::{CopyMode, Located, Name, ProxyState, Snapshot, SnapshotKind, Span};
use std::path::Path;
use std::process::ExitCode;

/// Run a `proxy` subcommand.
pub fn run(args: &ProxyArgs) -> Result<ExitCode, CliError> {
    change::locked_crash_tested(|backend| match &args.action {
        ProxyAction::Join(a) => join(a, backend),
        ProxyAction::Part(a) => op(
            &a.proxy,
            ProxyOp::Part {
                readonly: a.readonly,
            },
            backend,
        ),
        ProxyAction::Rejoin(a) => op(&a.proxy, ProxyOp::Rejoin, backend),
        ProxyAction::Restore(a) => confirmed(
            a.yes,
            &format!(
                "Restore proxy {} onto its master? The master's current data is overwritten.",
                a.proxy.name
            ),
            "restore",
        )
        .and_then(|()| op(&a.proxy, ProxyOp::Restore, backend)),
        ProxyAction::Break(a) => op(&a.proxy, ProxyOp::Break, backend),
    })
}

fn join(a: &ProxyJoinArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, master) = (a.master.class.as_str(), a.master.name.as_str());
    let facts = backend.facts(None)?;
    let c = &class_on_disks(backend, cname)?;
    let config = changed_config("proxy", c, |class| {
        let loc = |s: &str| Located {
            value: Name(s.to_owned()),
            span: Span::default(),
        };
        class.snapshots.push(Snapshot {
            name: Name(a.name.clone()),
            origin: loc(master),
            kind: SnapshotKind::Proxy {
                on: loc(&a.on),
                state: ProxyState::Joined,
                copy: CopyMode::Software,
            },
            span: Span::default(),
        });
    })?;
    crate::config::gate(Path::new("proxy"), &config, &facts)?;
    let Some(class) = config.classes.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let (p, bindings) = plan_on_disks(backend, class, &facts, |b, actual, _| {
        Ok(plan::plan(class, b, actual, &PlanOptions::default())?)
    })?;
    change::execute(&p, &bindings, backend)?;
    println!(
        "class {cname}: proxy {} of {master} joined on {} (copying; see `dmclass status`)",
        a.name, a.on
    );
    Ok(ExitCode::SUCCESS)
}

/// Plan proxy operation `o` on proxy `name` of class `c` (as on its disks) and run it.
pub(super) fn run_op(
    backend: &mut Backend,
    c: &dmclass_engine::assemble::ClassOnDisks,
    facts: &dmclass_rules::Facts,
    name: &str,
    o: ProxyOp,
) -> Result<dmclass_engine::exec::ExecReport, CliError> {
    let config = dmclass_engine::export::export(&c.meta)?;
    let Some(class) = config.classes.first() else {
        return Ok(dmclass_engine::exec::ExecReport::default());
    };
    // a part of an unfinished copy is refused by the executor before any action
    let (p, bindings) = plan_on_disks(backend, class, facts, |b, actual, _| {
        Ok(plan::plan_proxy(
            class,
            b,
            actual,
            name,
            o,
            &PlanOptions::default(),
        )?)
    })?;
    change::execute(&p, &bindings, backend)
}

fn op(proxy: &ObjRef, o: ProxyOp, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, name) = (proxy.class.as_str(), proxy.name.as_str());
    let facts = backend.facts(None)?;
    let c = &class_on_disks(backend, cname)?;
    if dmclass_engine::proxy::find(&c.meta, name).is_none() {
        return Err(no_such(cname, "proxy", name));
    }
    let report = run_op(backend, c, &facts, name, o)?;
    for n in &report.notes {
        println!("class {cname}: proxy {name}: {n}");
    }
    let what = match o {
        ProxyOp::Part { readonly } => format!(
            "parted: {} ({})",
            dmclass_engine::names::user_path(cname, name).display(),
            if readonly {
                "read-only; rejoin: incremental"
            } else {
                "read-write, its writes tracked; rejoin: incremental"
            }
        ),
        ProxyOp::Rejoin => "rejoined (copying; see `dmclass status`)".into(),
        // the copy line above says what was copied (and why all, if so); without
        // one the kernel rebuilds the master's legs from the proxy whole
        ProxyOp::Restore if report.notes.is_empty() => {
            "restoring onto its master (full copy; see `dmclass status`)".into()
        }
        ProxyOp::Restore => "restored onto its master (see `dmclass status`)".into(),
        ProxyOp::Break => "broken off: now an ordinary volume".into(),
    };
    println!("class {cname}: proxy {name} {what}");
    Ok(ExitCode::SUCCESS)
}
