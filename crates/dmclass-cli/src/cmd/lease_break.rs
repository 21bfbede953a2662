//! `dmclass lease break CLASS --node NODE`: the break-glass for a dead node's leases.

use super::change;
use super::context::{class_on_disks, confirmed};
use super::lease::{class_leases, is_shared};
use crate::args::lease::{BreakArgs, LeaseArgs, LeaseCommand};
use crate::backend::Backend;
use crate::error::CliError;
use std::process::ExitCode;

/// Run `lease`.
pub fn run(args: &LeaseArgs) -> Result<ExitCode, CliError> {
    match &args.command {
        LeaseCommand::Break(a) => change::locked(|backend| break_with(a, backend)),
    }
}

fn break_with(a: &BreakArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let c = class_on_disks(backend, &a.class)?;
    if !is_shared(&c.meta) {
        return Err(CliError::Refused(format!(
            "class {} is not shared: it has no leases",
            a.class
        )));
    }
    let paths = c.present_paths();
    let cl = class_leases(backend, &c.meta, &paths)?;
    let owner = cl
        .nodes
        .iter()
        .find(|n| n.name == a.node)
        .map(|n| n.host_id)
        .ok_or_else(|| {
            CliError::Refused(format!(
                "class {}: {} is not one of its nodes; nothing was changed",
                a.class, a.node
            ))
        })?;
    if owner == cl.host_id {
        return Err(CliError::Refused(format!(
            "{} is this node: give its leases back with `dmclass deactivate {}`; nothing was changed",
            a.node, a.class
        )));
    }
    confirmed(
        a.yes,
        &format!(
            "Free every lease {} (host_id {owner}) holds in class {}? Only if {} is powered off or fenced: a running {} keeps writing.",
            a.node, a.class, a.node, a.node
        ),
        "break leases",
    )?;
    let volumes: Vec<String> = c.meta.volumes.iter().map(|v| v.name.clone()).collect();
    let (_, mut client) = backend.lease_parts(cl.host_id.get());
    let broken = cl.break_leases(&mut *client, owner, &volumes)?;
    if broken.is_empty() {
        println!(
            "class {}: {} holds no lease of the class; nothing was changed",
            a.class, a.node
        );
    } else {
        log::warn!(
            "class {}: leases of {} (host_id {owner}) broken: {}",
            a.class,
            a.node,
            broken.join(", ")
        );
        println!(
            "class {}: freed {} lease(s) {} held: {}; `dmclass activate {}` takes them",
            a.class,
            broken.len(),
            a.node,
            broken.join(", "),
            a.class
        );
    }
    Ok(ExitCode::SUCCESS)
}
