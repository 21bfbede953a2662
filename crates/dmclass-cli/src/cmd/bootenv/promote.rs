//! `bootenv promote NAME`: make an environment the primary (GDS restores a proxy
//! onto its master; docs/boot-environments.md, "Making an environment the primary").
//!
//! Two halves. `promote`, run inside the environment, only records the wish and points
//! the next boot at the primary: the class's own volumes are closed then, the copy
//! can overwrite them. [`at_boot`], from `dmclass activate` (the initramfs runs it
//! before the root is mounted), carries it out when both sides are closed: each proxy
//! restored onto its master (the regions either side changed since the part, as
//! `proxy restore` copies them), the root's `/etc/fstab` naming the class's volumes
//! again, then the environment removed as `bootenv remove` removes one. Every step is
//! "do it, or see it is done": a boot cut anywhere does the rest at the next one.

use super::super::context::{class_on_disks, confirmed};
use super::{
    entries, env_line, proxy_op, read_bounded, refused, remove, root_class, running_env, write,
};
use crate::args::bootenv::{ActivateArgs, ClassArg, PromoteArgs};
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::bootenv::{self, cmdline, fstab, BootEnvMeta, PRIMARY};
use dmclass_engine::metadata::ProxyStateMeta;
use dmclass_engine::names::{dm_name, user_path, Layer};
use dmclass_engine::plan::ProxyOp;
use std::path::Path;
use std::process::ExitCode;

/// `bootenv promote NAME [--cancel]`.
pub(in super::super) fn promote(
    a: &PromoteArgs,
    backend: &mut Backend,
) -> Result<ExitCode, CliError> {
    let (c, _) = root_class(backend, a.class.class.as_deref())?;
    let name = a.name.as_str();
    if a.cancel {
        if bootenv::pending_promote(&c.meta).is_none_or(|e| e.name != name) {
            return Err(refused(format!(
                "no promotion of boot environment {name} is recorded; nothing was changed"
            )));
        }
        write(backend, &c, &bootenv::with_promote(&c.meta, name, false))?;
        // The promotion deleted the environment's entries: registered again.
        let root = bootenv::find(&c.meta, name).and_then(|e| e.root.clone());
        if let Some(root) = root.filter(|_| dmclass_linux::esp::efi_variables()) {
            let line = env_line(&c.meta.name, &root)?;
            let c = class_on_disks(backend, &c.meta.name)?;
            entries::register(&c, backend, name, &line)?;
        }
        println!(
            "bootenv {name}: promotion taken back; the next boot starts the primary, \
             untouched"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let running = running_env(backend, &c);
    if let Some(why) = bootenv::promote_refusal(&c.meta, name, running.as_deref()) {
        return Err(refused(format!("{why}; nothing was changed")));
    }
    let env = bootenv::find(&c.meta, name).cloned().ok_or_else(|| {
        refused(format!(
            "class {} has no boot environment `{name}`",
            c.meta.name
        ))
    })?;
    let masters: Vec<&str> = env.volumes.iter().map(|v| v.volume.as_str()).collect();
    confirmed(
        a.yes,
        &format!(
            "Make boot environment {name} the primary? At the next boot the class's own \
             volumes ({}) are overwritten with {name}'s data, then {name} is removed.",
            masters.join(", ")
        ),
        "promote",
    )?;
    write(backend, &c, &bootenv::with_promote(&c.meta, name, true))?;
    // The primary's entries first in the boot order; the environment's go now (after
    // the promotion nothing may boot the copies: they are removed).
    entries::activate(
        &ActivateArgs {
            name: PRIMARY.to_owned(),
            once: false,
            class: ClassArg {
                class: Some(c.meta.name.clone()),
            },
        },
        backend,
    )?;
    for n in entries::delete(&c.meta.name, name)? {
        println!("bootenv {name}: boot entry Boot{n:04X} deleted");
    }
    println!(
        "bootenv {name}: recorded; reboot: before anything is mounted, the class's own \
         volumes take {name}'s data (only what changed is copied), then {name} is removed \
         and the primary boots"
    );
    Ok(ExitCode::SUCCESS)
}

/// Carry out a recorded promotion of class `class` if this boot allows it (nothing
/// of it open, the root not one of the copies); otherwise say why it waits. Whether
/// it was carried out.
pub(in super::super) fn at_boot(backend: &mut Backend, class: &str) -> Result<bool, CliError> {
    let c = class_on_disks(backend, class)?;
    let Some(env) = bootenv::pending_promote(&c.meta).cloned() else {
        return Ok(false);
    };
    let name = env.name.clone();
    let line = if matches!(backend, Backend::Real { .. }) {
        read_bounded(Path::new("/proc/cmdline"))?
    } else {
        String::new()
    };
    let open = open_devices(backend, class, &env)?;
    if let Some(why) = bootenv::promote_waits(&c.meta, &env, cmdline::booted_root(&line), &open) {
        println!(
            "bootenv {name}: to be made the primary at a boot that leaves its volumes and \
             the class's closed; not now: {why}"
        );
        return Ok(false);
    }
    let facts = backend.facts(None)?;
    println!(
        "bootenv {name}: making it the primary (copying what changed onto the class's volumes)"
    );
    for v in &env.volumes {
        let done = |p: Option<dmclass_engine::proxy::ProxyRef<'_>>| {
            p.is_none_or(|p| p.state == ProxyStateMeta::Joined)
        };
        if proxy_op(backend, class, &facts, &v.proxy, ProxyOp::Restore, done)? {
            println!("bootenv {name}: {} restored onto {}", v.proxy, v.volume);
        }
    }
    name_the_masters(class, &env)?;
    let volumes = env.volumes.clone();
    let all: Vec<String> = volumes.iter().map(|v| v.proxy.clone()).collect();
    remove::take_away(backend, class, &name, &facts, &volumes, &all)?;
    println!("bootenv {name}: the class's own volumes hold its data now; {name} is removed");
    Ok(true)
}

/// The class's volumes and the environment's proxies that are open now.
fn open_devices(
    backend: &mut Backend,
    class: &str,
    env: &BootEnvMeta,
) -> Result<Vec<String>, CliError> {
    let (kernel, _) = backend.parts();
    let mut out = Vec::new();
    for n in env
        .volumes
        .iter()
        .flat_map(|v| [v.volume.as_str(), v.proxy.as_str()])
    {
        let dev = dm_name(class, n, Layer::Top)?;
        let info = kernel
            .info(&dev)
            .map_err(|e| refused(format!("cannot read device {dev}: {e}")))?;
        if info.is_some_and(|i| i.open_count > 0) {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

/// The restored root's `/etc/fstab` names the class's volumes again (the copy's named
/// its proxies). Nothing to do under the simulator, or without a file system or an
/// fstab on the root.
fn name_the_masters(class: &str, env: &BootEnvMeta) -> Result<(), CliError> {
    let Some(root) = env
        .root
        .as_deref()
        .and_then(|r| env.volumes.iter().find(|v| v.proxy == r))
    else {
        return Ok(());
    };
    let dev = user_path(class, &root.volume);
    if !dev.exists() {
        return Ok(());
    }
    let id = dmclass_linux::bootenv::fs_identity(&dev);
    let Some(fs_type) = id.fs_type.filter(|t| t != "swap") else {
        return Ok(());
    };
    let names = fstab::primary_names(class, env, |p| dm_name(class, p, Layer::Top).ok());
    let m = dmclass_linux::bootenv::mount_copy(&dev, "promote", &fs_type).map_err(CliError::Esp)?;
    let path = m.dir().join("etc/fstab");
    if !path.exists() {
        return Ok(());
    }
    let text = read_bounded(&path)?;
    let (new, n) = fstab::rewrite(&text, &names);
    if n > 0 {
        dmclass_linux::bootenv::replace_file(&path, new.as_bytes()).map_err(CliError::Esp)?;
        println!(
            "bootenv {}: /etc/fstab of {}: {n} line(s) name the class's volumes again",
            env.name, root.volume
        );
    }
    Ok(())
}
