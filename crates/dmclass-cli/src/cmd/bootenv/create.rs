//! `bootenv create NAME`: the running system's volumes copied to proxies on the
//! boot-environment group, parted, the copy's fstab rewritten, its boot entries made.
//!
//! Crash safety: the environment is recorded `creating` once its proxies are joined,
//! and `ready` only after its fstab names its own volumes; every step is "do it, or
//! see it is done", so running the same command again finishes a create cut anywhere
//! (the proxies of a create cut before the record are taken as they are).

use super::super::context::{changed_config, class_on_disks, plan_and_run};
use super::super::wait;
use super::{entries, proxy_op, read_bounded, refused, root_class, running_env, write};
use crate::args::bootenv::CreateArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::bootenv::{
    self, cmdline, fstab, BootEnvMeta, BootEnvState, EnvVolume, PRIMARY,
};
use dmclass_engine::names::{dm_name, user_path, Layer};
use dmclass_engine::plan::ProxyOp;
use dmclass_model::{CopyMode, Located, Name, ProxyState, Snapshot, SnapshotKind, Span};
use dmclass_rules::Facts;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `bootenv create`.
pub(in super::super) fn create(
    a: &CreateArgs,
    backend: &mut Backend,
) -> Result<ExitCode, CliError> {
    let (c, facts) = root_class(backend, a.class.class.as_deref())?;
    let class = c.meta.name.clone();
    let name = a.name.as_str();
    let Some(group) = dmclass_engine::root::env_group(&c.meta).map(|g| g.name.clone()) else {
        return Err(refused(format!(
            "class {class} has no boot-environment group: a boot environment lives on a \
             second group of whole disks of the root class, declared when the class is \
             converted (docs/boot-environments.md); nothing was changed"
        )));
    };
    let running = running_env(backend, &c);
    if let Some(r) = running.as_deref().filter(|r| *r != PRIMARY) {
        return Err(refused(format!(
            "the system runs from boot environment {r}: create environments from the \
             primary one (its copies are of the class's own volumes); nothing was changed"
        )));
    }
    let record = bootenv::find(&c.meta, name).cloned();
    let leftovers = bootenv::leftovers(&c.meta, name);
    match &record {
        Some(e) if e.state == BootEnvState::Ready => {
            return Err(refused(format!(
                "boot environment {name} exists (`dmclass bootenv list`); remove it first or \
                 choose another name"
            )))
        }
        Some(_) => println!("bootenv {name}: finishing a create that was cut short"),
        None if !leftovers.is_empty() => println!(
            "bootenv {name}: taking over the proxies a create cut short left ({})",
            leftovers
                .iter()
                .map(|v| v.proxy.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => {
            if let Some(why) = bootenv::name_refusal(&c.meta, name) {
                return Err(refused(format!(
                    "cannot create boot environment {name}: {why}; nothing was changed"
                )));
            }
        }
    }
    let volumes: Vec<EnvVolume> = c
        .meta
        .volumes
        .iter()
        .filter(|v| v.partition.is_some())
        .map(|v| EnvVolume {
            volume: v.name.clone(),
            proxy: bootenv::proxy_name(name, &v.name),
        })
        .collect();
    let root = root_volume(backend, &c, &volumes)?;
    let proc_cmdline = read_bounded(Path::new("/proc/cmdline"))?;
    let Some(line) = cmdline::env_cmdline(&proc_cmdline, &class, &root.proxy) else {
        return Err(refused(format!(
            "the kernel command line for {name} would be longer than {} bytes; nothing was \
             changed",
            cmdline::MAX_CMDLINE
        )));
    };
    // 1. Join every missing proxy (one plan: full copies start at once).
    join(backend, &c, &facts, &group, &volumes)?;
    let c = class_on_disks(backend, &class)?;
    // 2. Recorded `creating`: from here on `create` again finishes it.
    let mut env = record.unwrap_or_else(|| BootEnvMeta {
        name: name.to_owned(),
        created: now(),
        volumes: volumes.clone(),
        root: Some(root.proxy.clone()),
        state: BootEnvState::Creating,
        promote: false,
    });
    if bootenv::find(&c.meta, name).is_none() {
        write(backend, &c, &bootenv::recorded(&c.meta, env.clone()))?;
    }
    // 3. Copies finished, then parted.
    wait_copied(backend, &class, &volumes)?;
    for v in &volumes {
        part(backend, &class, &facts, &v.proxy)?;
    }
    wait::public_paths(backend, &[class.as_str()], false)?;
    // 4. The copy mounts its own volumes.
    rewrite_fstab(&class, name, &volumes, &root)?;
    // 5. Ready, then bootable.
    let c = class_on_disks(backend, &class)?;
    env.state = BootEnvState::Ready;
    write(backend, &c, &bootenv::recorded(&c.meta, env))?;
    if dmclass_linux::esp::efi_variables() {
        entries::register(&c, backend, name, &line)?;
    } else {
        println!("bootenv {name}: no UEFI variables here: no boot entry registered");
    }
    println!(
        "bootenv {name}: created ({}); boot it once with `dmclass bootenv activate {name} --once`",
        volumes
            .iter()
            .map(|v| user_path(&class, &v.proxy).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// The volume `/` is mounted from (the environment's root): the running one when the
/// system runs from this class, else the only volume.
fn root_volume(
    backend: &mut Backend,
    c: &ClassOnDisks,
    volumes: &[EnvVolume],
) -> Result<EnvVolume, CliError> {
    let mounted = super::mounted_root(backend, c);
    let found = match (&mounted, volumes) {
        (Some(m), _) => volumes.iter().find(|v| &v.volume == m),
        (None, [only]) => Some(only),
        (None, _) => None,
    };
    found.cloned().ok_or_else(|| {
        refused(format!(
            "cannot tell which volume of class {} holds the root file system (/ is not \
             mounted from it); nothing was changed",
            c.meta.name
        ))
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Join the proxies not there yet, through the declarative planner (as `proxy join`).
fn join(
    backend: &mut Backend,
    c: &ClassOnDisks,
    facts: &Facts,
    group: &str,
    volumes: &[EnvVolume],
) -> Result<(), CliError> {
    let missing: Vec<&EnvVolume> = volumes
        .iter()
        .filter(|v| dmclass_engine::proxy::find(&c.meta, &v.proxy).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let loc = |s: &str| Located {
        value: Name(s.to_owned()),
        span: Span::default(),
    };
    let config = changed_config("bootenv", c, |class| {
        for v in &missing {
            class.snapshots.push(Snapshot {
                name: Name(v.proxy.clone()),
                origin: loc(&v.volume),
                kind: SnapshotKind::Proxy {
                    on: loc(group),
                    state: ProxyState::Joined,
                    copy: CopyMode::Software,
                },
                span: Span::default(),
            });
        }
    })?;
    for v in &missing {
        println!(
            "bootenv: joining proxy {} of {} on group {group} (a full copy)",
            v.proxy, v.volume
        );
    }
    plan_and_run(backend, &config, facts, false)
}

/// Wait until no proxy of the environment is copying, saying how far each is.
fn wait_copied(backend: &mut Backend, class: &str, volumes: &[EnvVolume]) -> Result<(), CliError> {
    let t = Instant::now();
    let mut said = Instant::now()
        .checked_sub(Duration::from_secs(60))
        .unwrap_or_else(Instant::now);
    loop {
        let c = class_on_disks(backend, class)?;
        let (kernel, _) = backend.parts();
        let st = dmclass_engine::proxy::state::proxies_status(&c.meta, &*kernel)?;
        let mine: Vec<_> = st
            .iter()
            .filter(|p| volumes.iter().any(|v| v.proxy == p.name))
            .collect();
        if let Some(bad) = mine.iter().find(|p| p.state == "INVALID") {
            return Err(refused(format!(
                "proxy {} is INVALID (its disk failed?): see `dmclass status`; remove the \
                 environment and create it again once the disk is replaced",
                bad.name
            )));
        }
        let copying: Vec<_> = mine.iter().filter(|p| p.state == "COPY").collect();
        if copying.is_empty() {
            if t.elapsed() > Duration::from_secs(2) {
                println!("bootenv: copies complete after {:.0?}", t.elapsed());
            }
            return Ok(());
        }
        if said.elapsed() >= Duration::from_secs(10) {
            for p in &copying {
                println!(
                    "bootenv: copying {} to {}: {:.1}%",
                    p.master,
                    p.name,
                    p.sync_percent.unwrap_or(0.0)
                );
            }
            said = Instant::now();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Part proxy `proxy` unless it is parted already. The master's file system is frozen
/// by device-mapper while the master is suspended for the part (its lockfs), so the
/// copy is consistent.
fn part(backend: &mut Backend, class: &str, facts: &Facts, proxy: &str) -> Result<(), CliError> {
    let parted = |p: Option<dmclass_engine::proxy::ProxyRef<'_>>| {
        p.is_some_and(|p| p.state == dmclass_engine::metadata::ProxyStateMeta::Parted)
    };
    if proxy_op(
        backend,
        class,
        facts,
        proxy,
        ProxyOp::Part { readonly: false },
        parted,
    )? {
        println!("bootenv: parted {}", user_path(class, proxy).display());
    }
    Ok(())
}

/// Rewrite the copy's `/etc/fstab` so it mounts the environment's volumes.
fn rewrite_fstab(
    class: &str,
    env: &str,
    volumes: &[EnvVolume],
    root: &EnvVolume,
) -> Result<(), CliError> {
    let dev = user_path(class, &root.proxy);
    let id = dmclass_linux::bootenv::fs_identity(&dev);
    let Some(fs_type) = id.fs_type.filter(|t| t != "swap") else {
        println!(
            "bootenv {env}: {} holds no file system blkid knows: /etc/fstab not rewritten",
            dev.display()
        );
        return Ok(());
    };
    let mut names = Vec::new();
    for v in volumes {
        let master = dmclass_linux::bootenv::fs_identity(&user_path(class, &v.volume));
        names.push(fstab::names_of(
            class,
            &v.volume,
            &dm_name(class, &v.volume, Layer::Top)?,
            master.uuid.as_deref(),
            master.label.as_deref(),
            user_path(class, &v.proxy).display().to_string(),
        ));
    }
    let m = dmclass_linux::bootenv::mount_copy(&dev, env, &fs_type).map_err(CliError::Esp)?;
    let path = m.dir().join("etc/fstab");
    if !path.exists() {
        println!("bootenv {env}: the copy has no /etc/fstab: nothing to rewrite");
        return Ok(());
    }
    let text = read_bounded(&path)?;
    let (new, n) = fstab::rewrite(&text, &names);
    if n > 0 {
        dmclass_linux::bootenv::replace_file(&path, new.as_bytes()).map_err(CliError::Esp)?;
    }
    println!("bootenv {env}: /etc/fstab of the copy: {n} line(s) now name its own volumes");
    Ok(())
}
