//! `bootenv remove` and `bootenv rename`.
//!
//! Remove, in an order a power cut cannot hurt: the boot entries go first (nothing
//! boots the environment any more), then the copies' file system signatures are
//! erased (a broken-off copy is an ordinary volume holding the system's file system
//! UUID: after a cut, the next boot could mount it as the root), then the record (the
//! environment is gone; its proxies are plain proxies named like it), then each proxy
//! is broken off and its volume removed. `remove` again finishes a removal cut
//! anywhere: it also takes the proxies and volumes named like the environment that a
//! cut left.

use super::super::context::{changed_config, class_on_disks, confirmed, plan_and_run};
use super::{entries, env_line, proxy_op, refused, root_class, running_env, write};
use crate::args::bootenv::{RemoveArgs, RenameArgs};
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::bootenv::{self, BootEnvState, PRIMARY};
use dmclass_engine::names::{dm_name, Layer};
use dmclass_engine::plan::ProxyOp;
use std::process::ExitCode;

/// `bootenv remove NAME`.
pub(in super::super) fn remove(
    a: &RemoveArgs,
    backend: &mut Backend,
) -> Result<ExitCode, CliError> {
    let (c, facts) = root_class(backend, a.class.class.as_deref())?;
    let class = c.meta.name.clone();
    let name = a.name.as_str();
    if name == PRIMARY {
        return Err(refused(format!(
            "`{PRIMARY}` is the class's own volumes, not a copy; nothing was changed"
        )));
    }
    if running_env(backend, &c).as_deref() == Some(name) {
        return Err(refused(format!(
            "the system runs from boot environment {name}: boot another one first \
             (`dmclass bootenv activate {PRIMARY} --once`, reboot); nothing was changed"
        )));
    }
    let volumes = match bootenv::find(&c.meta, name) {
        Some(e) => e.volumes.clone(),
        None => bootenv::leftovers(&c.meta, name),
    };
    // Volumes a cut removal already broke off (ordinary volumes named like them).
    let broken: Vec<String> = c
        .meta
        .volumes
        .iter()
        .filter(|v| v.partition.is_none())
        .filter(|v| {
            c.meta
                .volumes
                .iter()
                .any(|m| m.partition.is_some() && bootenv::proxy_name(name, &m.name) == v.name)
        })
        .map(|v| v.name.clone())
        .collect();
    if volumes.is_empty() && broken.is_empty() {
        return Err(refused(format!(
            "class {class} has no boot environment `{name}` (`dmclass bootenv list`)"
        )));
    }
    let all: Vec<String> = volumes
        .iter()
        .map(|v| v.proxy.clone())
        .chain(broken.iter().cloned())
        .collect();
    confirmed(
        a.yes,
        &format!(
            "Remove boot environment {name}? Its volumes {} and everything on them are lost.",
            all.join(", ")
        ),
        "remove",
    )?;
    take_away(backend, &class, name, &facts, &volumes, &all)?;
    println!(
        "bootenv {name}: removed ({} freed on its group)",
        all.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// Remove environment `name` of `class` (its proxies `volumes`; `all`: those and the
/// volumes a cut removal broke off), in the order the module's doc gives. Also the
/// end of a promotion (its proxies joined to their masters by then).
pub(super) fn take_away(
    backend: &mut Backend,
    class: &str,
    name: &str,
    facts: &dmclass_rules::Facts,
    volumes: &[bootenv::EnvVolume],
    all: &[String],
) -> Result<(), CliError> {
    let c = class_on_disks(backend, class)?;
    let copies = closed_copies(backend, class, all)?;
    for n in entries::delete(class, name)? {
        println!("bootenv {name}: boot entry Boot{n:04X} deleted");
    }
    for (p, dev) in &copies {
        // A second guard, not the only one (the copy's udev links yield to the
        // system's whatever happens): a copy that cannot be erased (a read-only
        // device) must not leave the removal stuck half-way.
        match dmclass_linux::signatures::wipe_signatures(dev) {
            Ok(wiped) if wiped.is_empty() => {}
            Ok(wiped) => println!(
                "bootenv {name}: {} signature(s) erased on {p} (never taken for the original)",
                wiped.join(", ")
            ),
            Err(e) => eprintln!(
                "warning: bootenv {name}: the copy on {p} was not erased ({e}); its udev \
                 links still yield to the system volume's"
            ),
        }
    }
    if bootenv::find(&c.meta, name).is_some() {
        write(backend, &c, &bootenv::forgotten(&c.meta, name))?;
    }
    // Each proxy broken off its master becomes an ordinary volume (unless it is no
    // proxy any more: a removal cut short).
    for v in volumes {
        proxy_op(backend, class, facts, &v.proxy, ProxyOp::Break, |p| {
            p.is_none()
        })?;
    }
    let c = class_on_disks(backend, class)?;
    let config = changed_config("bootenv", &c, |cl| {
        cl.volumes
            .retain(|v| !all.iter().any(|n| *n == v.name.as_str()));
    })?;
    plan_and_run(backend, &config, facts, true)?;
    Ok(())
}

/// The device of each of `volumes` that has one (a parted proxy, a broken-off
/// volume), refused when one is open. None in the simulation (it holds no file
/// systems to erase).
fn closed_copies(
    backend: &mut Backend,
    class: &str,
    volumes: &[String],
) -> Result<Vec<(String, std::path::PathBuf)>, CliError> {
    if !matches!(backend, Backend::Real { .. }) {
        return Ok(Vec::new());
    }
    let (kernel, _) = backend.parts();
    let mut out = Vec::new();
    for v in volumes {
        let dev = dm_name(class, v, Layer::Top)?;
        let info = kernel
            .info(&dev)
            .map_err(|e| refused(format!("cannot read device {dev}: {e}")))?;
        match info {
            // Joined (a leg of its master) or not active: nothing visible to erase.
            None => {}
            Some(i) if i.open_count > 0 => {
                return Err(refused(format!(
                    "{v} is open ({} opener(s); mounted?): close it first; nothing was changed",
                    i.open_count
                )))
            }
            Some(_) => out.push((v.clone(), std::path::Path::new("/dev/mapper").join(&dev))),
        }
    }
    Ok(out)
}

/// `bootenv rename OLD NEW`.
pub(in super::super) fn rename(
    a: &RenameArgs,
    backend: &mut Backend,
) -> Result<ExitCode, CliError> {
    let (c, _) = root_class(backend, a.class.class.as_deref())?;
    let class = c.meta.name.clone();
    let Some(e) = bootenv::find(&c.meta, &a.old).cloned() else {
        return Err(refused(format!(
            "class {class} has no boot environment `{}`",
            a.old
        )));
    };
    if e.state != BootEnvState::Ready {
        return Err(refused(format!(
            "boot environment {} was not finished: run `dmclass bootenv create {}` again first",
            a.old, a.old
        )));
    }
    if a.new == PRIMARY || bootenv::find(&c.meta, &a.new).is_some() {
        return Err(refused(format!(
            "the name {} is taken; nothing was changed",
            a.new
        )));
    }
    let Some(root) = e
        .root
        .clone()
        .or_else(|| e.volumes.first().map(|v| v.proxy.clone()))
    else {
        return Err(refused(format!("boot environment {} has no volume", a.old)));
    };
    // Entries first under the new name (the old ones boot the same root until they go).
    let line = env_line(&class, &root)?;
    write(backend, &c, &bootenv::renamed(&c.meta, &a.old, &a.new))?;
    if dmclass_linux::esp::efi_variables() {
        let c = class_on_disks(backend, &class)?;
        entries::register(&c, backend, &a.new, &line)?;
        entries::carry_over(&class, &a.old, &a.new)?;
        entries::delete(&class, &a.old)?;
    }
    println!(
        "bootenv {}: renamed {} (its volumes keep their names)",
        a.old, a.new
    );
    Ok(ExitCode::SUCCESS)
}
