//! `dmclass proxy join|part|rejoin|restore|break`: GDS proxy volumes (mechanism in
//! `dmclass_engine::proxy`).
//!
//! `join` is the declarative path in imperative form (the class as on disk, with the
//! proxy added `state: joined`, through validation, the support-matrix gate, planner
//! and executor, like `snapshot create`). The other operations run the engine's proxy
//! plan; `part` first checks that the copy to the proxy has finished.

use super::classes::{found_classes, select};
use crate::args::{ProxyAction, ProxyArgs, ProxyJoinArgs};
use crate::backend::Backend;
use crate::error::CliError;
use crate::values::ObjRef;
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::plan::{self, PlanOptions, ProxyOp};
use dmclass_model::{CopyMode, Located, Name, ProxyState, Snapshot, SnapshotKind, Span};
use std::path::Path;
use std::process::ExitCode;

/// Run a `proxy` subcommand.
pub fn run(args: &ProxyArgs) -> Result<ExitCode, CliError> {
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = match &args.action {
        ProxyAction::Join(a) => join(a, &mut backend),
        ProxyAction::Part(a) => op(
            &a.proxy,
            ProxyOp::Part {
                readonly: a.readonly,
            },
            &mut backend,
        ),
        ProxyAction::Rejoin(a) => op(&a.proxy, ProxyOp::Rejoin, &mut backend),
        ProxyAction::Restore(a) => {
            if a.yes
                || super::apply::confirm(
                    &format!(
                        "Restore proxy {} onto its master? The master's current data is overwritten.",
                        a.proxy.name
                    ),
                    "restore",
                )?
            {
                op(&a.proxy, ProxyOp::Restore, &mut backend)
            } else {
                Err(CliError::Refused("not confirmed; nothing was changed".into()))
            }
        }
        ProxyAction::Break(a) => op(&a.proxy, ProxyOp::Break, &mut backend),
    };
    backend.finish()?;
    crate::failpoint::exit_if_failpoint(&result);
    result
}

fn class_named<'a>(classes: &'a [ClassOnDisks], name: &str) -> Result<&'a ClassOnDisks, CliError> {
    Ok(select(classes, &[name.to_owned()])?[0])
}

fn join(a: &ProxyJoinArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, master) = (a.master.class.as_str(), a.master.name.as_str());
    let facts = backend.facts(None)?;
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    let mut config = dmclass_engine::export::export(&c.meta)?;
    if let Some(class) = config.classes.first_mut() {
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
    }
    let text = dmclass_model::to_yaml(&config);
    let config = dmclass_model::parse("proxy", &text).map_err(|d| {
        eprintln!("{d}");
        CliError::Refused("the proxy is not valid; nothing was changed".into())
    })?;
    crate::config::gate(Path::new("proxy"), &config, &facts)?;
    let Some(class) = config.classes.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let bindings = plan::bind_disks(class, &facts)?;
    let p = {
        let (kernel, disks) = backend.parts();
        let actual = plan::read_actual(&bindings, &*disks, &*kernel)?;
        plan::plan(class, &bindings, &actual, &PlanOptions::default())?
    };
    crate::failpoint::execute(&p, &bindings, backend)?;
    println!(
        "class {cname}: proxy {} of {master} joined on {} (copying; see `dmclass status`)",
        a.name, a.on
    );
    Ok(ExitCode::SUCCESS)
}

fn op(proxy: &ObjRef, o: ProxyOp, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, name) = (proxy.class.as_str(), proxy.name.as_str());
    let facts = backend.facts(None)?;
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    if dmclass_engine::proxy::find(&c.meta, name).is_none() {
        return Err(CliError::Refused(format!(
            "class {cname} has no proxy `{name}`"
        )));
    }
    let config = dmclass_engine::export::export(&c.meta)?;
    let Some(class) = config.classes.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let bindings = plan::bind_disks(class, &facts)?;
    let p = {
        let (kernel, disks) = backend.parts();
        let actual = plan::read_actual(&bindings, &*disks, &*kernel)?;
        // planning first: a closed class or an interrupted change is the reason to give
        let p = plan::plan_proxy(class, &bindings, &actual, name, o, &PlanOptions::default())?;
        if matches!(o, ProxyOp::Part { .. }) {
            dmclass_engine::proxy::check_in_sync(&*kernel, &c.meta, name)?;
        }
        p
    };
    crate::failpoint::execute(&p, &bindings, backend)?;
    let what = match o {
        ProxyOp::Part { readonly } => format!(
            "parted: {} ({})",
            dmclass_engine::names::user_path(cname, name).display(),
            if readonly {
                "read-only; rejoin: incremental"
            } else {
                "read-write; rejoin: full copy"
            }
        ),
        ProxyOp::Rejoin => "rejoined (copying; see `dmclass status`)".into(),
        ProxyOp::Restore => "restoring onto its master (full copy; see `dmclass status`)".into(),
        ProxyOp::Break => "broken off: now an ordinary volume".into(),
    };
    println!("class {cname}: proxy {name} {what}");
    Ok(ExitCode::SUCCESS)
}
