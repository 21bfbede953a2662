//! Shared classes in the commands: which node this is, taking the class's leases
//! before its volumes start or its metadata changes (every plan, through
//! `change::execute`), giving them back after.
//!
//! The decisions are `dmclass_engine::lease::client`'s; here are the node's name, the
//! holder processes' command lines and the messages.

use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::lease::client::{ClassLeases, Held};
use dmclass_engine::metadata::{ClassMeta, ClassTypeMeta};
use dmclass_engine::plan::{DiskBinding, Plan};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Where holders write what happened to them.
const LOG_DIR: &str = "/run/dmclass/leases";

/// Whether `meta` is a shared class (its volumes run under leases).
pub(super) fn is_shared(meta: &ClassMeta) -> bool {
    meta.class_type == ClassTypeMeta::Shared
}

/// This node's name: the host name up to its first dot (the simulator: the facts').
pub(super) fn node_name(backend: &Backend) -> Result<String, CliError> {
    let full = match backend {
        Backend::Sim { .. } => backend.facts(None)?.machine.hostname,
        Backend::Real { .. } => std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
    };
    full.as_deref()
        .map(str::trim)
        .and_then(|h| h.split('.').next())
        .filter(|h| !h.is_empty() && *h != "(none)")
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::Refused(
                "this machine has no host name, so it is no node of a shared class (set one: hostnamectl set-hostname NAME)".into(),
            )
        })
}

/// The leases of shared class `meta` for this node, its disks at `paths`.
pub(super) fn class_leases<'a>(
    backend: &Backend,
    meta: &'a ClassMeta,
    paths: &BTreeMap<String, PathBuf>,
) -> Result<ClassLeases<'a>, CliError> {
    let node = node_name(backend)?;
    let nodes = meta.cluster_nodes().ok_or_else(|| {
        CliError::Refused(format!(
            "class {}: its recorded nodes and host ids do not fit together",
            meta.name
        ))
    })?;
    Ok(ClassLeases::new(
        (&meta.name, meta.uuid, nodes),
        meta.leases.as_ref(),
        paths,
        &node,
    )?)
}

/// What a lease guards, for messages: `acc/vol1`, `class acc`.
fn what(meta: &ClassMeta, volume: Option<&str>) -> String {
    dmclass_engine::lease::guarded(&meta.name, volume)
}

/// The holder command for `volume`'s lease (`None`: the class lease, held while this
/// process runs).
fn holder_command(
    meta: &ClassMeta,
    cl: &ClassLeases<'_>,
    volume: Option<&str>,
) -> Result<Vec<String>, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Refused(format!("cannot find this program's path: {e}")))?;
    let (_, resource) = cl.resource(volume)?;
    let what = what(meta, volume);
    let _ = std::fs::create_dir_all(LOG_DIR);
    let mut cmd = vec![
        exe.display().to_string(),
        "lease-holder".into(),
        "--what".into(),
        what,
        "--class".into(),
        meta.uuid.to_string(),
        "--log".into(),
        format!("{LOG_DIR}/{}.{resource}.log", meta.name),
    ];
    match volume {
        Some(v) => {
            let uuid = meta
                .volumes
                .iter()
                .find(|x| x.name == v)
                .map(|x| x.uuid.to_string())
                .ok_or_else(|| CliError::Refused(format!("class {}: no volume {v}", meta.name)))?;
            cmd.extend(["--volume".into(), uuid]);
            if let Some((dev, at)) = cl.note_at(v) {
                cmd.extend([
                    "--note".into(),
                    dev.display().to_string(),
                    "--note-offset".into(),
                    at.0.to_string(),
                    "--node".into(),
                    cl.node.clone(),
                ]);
            }
        }
        None => cmd.extend(["--parent".into(), std::process::id().to_string()]),
    }
    Ok(cmd)
}

/// Join the class's lockspace (saying how long it took), then take the class lease
/// for this command and the leases of `volumes`: all or none. A lease another node
/// holds is retried every 2 s for up to `wait` (given back, or its holder's host lease
/// expired), then refused. What this command took
/// is given back when one is refused; the refusal names the holder.
pub(super) fn take(
    backend: &mut Backend,
    meta: &ClassMeta,
    cl: &ClassLeases<'_>,
    volumes: &[String],
    wait: std::time::Duration,
) -> Result<(), CliError> {
    let (disks, mut client) = backend.lease_parts(cl.host_id.get());
    let start = Instant::now();
    if cl.join(&mut *client)? {
        eprintln!(
            "class {}: joined lockspace {} as {} (host_id {}) in {:.1} s",
            meta.name,
            cl.lockspace(),
            cl.node,
            cl.host_id,
            start.elapsed().as_secs_f64()
        );
    }
    let mut wanted: Vec<Option<&str>> = vec![None];
    wanted.extend(volumes.iter().map(|v| Some(v.as_str())));
    let mut taken_now = Vec::new();
    let mut refused = Vec::new();
    for w in wanted {
        let command = holder_command(meta, cl, w)?;
        let mut waiting: Option<Instant> = None;
        loop {
            match cl.take(&mut *client, &*disks, w, &command)? {
                Ok(Held::Already(_)) => break,
                Ok(Held::Now(_)) => {
                    if let Some(since) = waiting {
                        eprintln!(
                            "{}: taken after waiting {:.1} s",
                            what(meta, w),
                            since.elapsed().as_secs_f64()
                        );
                    }
                    taken_now.push(w);
                    break;
                }
                Err(msg) => {
                    let since = *waiting.get_or_insert_with(|| {
                        if !wait.is_zero() {
                            eprintln!(
                                "{msg}; waiting up to {} s for it to be given back or for that node's lease to expire",
                                wait.as_secs()
                            );
                        }
                        Instant::now()
                    });
                    if since.elapsed() >= wait {
                        refused.push(msg);
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
            }
        }
        if !refused.is_empty() && w.is_none() {
            break; // another node changes the class: nothing else is taken
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    for w in taken_now.into_iter().rev() {
        cl.give_back(&mut *client, w)?;
    }
    Err(CliError::Refused(format!(
        "{}; nothing was started or changed",
        refused.join("; ")
    )))
}

/// Whether this node runs volumes of the class: a process here holds one of its
/// volume leases.
pub(super) fn runs_here(backend: &mut Backend, cl: &ClassLeases<'_>) -> bool {
    let (_, client) = backend.lease_parts(cl.host_id.get());
    let ls = cl.lockspace();
    match client.status() {
        Ok(st) => st
            .held
            .iter()
            .any(|h| h.lockspace == ls && h.resource != dmclass_engine::lease::CLASS_RESOURCE),
        // Said, not swallowed: a handler that cannot ask does nothing, and must say so.
        Err(e) => {
            log::warn!("lockspace {ls}: cannot ask the lock manager who holds what: {e}");
            false
        }
    }
}

/// Give back `volume`'s lease (`None`: the class lease) if this node holds it.
pub(super) fn give_back(
    backend: &mut Backend,
    cl: &ClassLeases<'_>,
    volumes: &[Option<&str>],
) -> Result<usize, CliError> {
    let (_, mut client) = backend.lease_parts(cl.host_id.get());
    let mut n = 0;
    for v in volumes {
        if cl.give_back(&mut *client, *v)? {
            n += 1;
        }
    }
    Ok(n)
}

/// A change of a shared class under way: the class as it was on disk before.
pub(super) struct SharedChange {
    before: Option<ClassMeta>,
}

/// Before a shared class's plan runs: write the lease area of a new class, take the
/// class lease and the lease of every volume the class has now or will have (all or
/// none: a volume running on another node refuses the change, naming it). Returns
/// the class as it is on disk now (`None` when the class is not shared).
pub(super) fn shared_take(
    p: &Plan,
    bindings: &[DiskBinding],
    backend: &mut Backend,
) -> Result<Option<SharedChange>, CliError> {
    if !is_shared(&p.new_meta) {
        return Ok(None);
    }
    let paths = disk_paths(bindings);
    let new = class_leases(backend, &p.new_meta, &paths)?;
    let current = p.old_meta.clone();
    let old_area = current.as_ref().and_then(|m| m.leases.as_ref());
    match (&current, old_area) {
        (Some(cur), Some(old)) => {
            // What exists now: its volumes' leases (also those this change removes).
            let now = class_leases(backend, cur, &paths)?;
            let names: Vec<String> = cur.volumes.iter().map(|v| v.name.clone()).collect();
            take(backend, cur, &now, &names, std::time::Duration::ZERO)?;
            // New volumes: their slots get a fresh lease (no volume holds a new slot).
            let (_, mut client) = backend.lease_parts(new.host_id.get());
            for (v, slot) in &new.area.volumes {
                if old.volumes.get(v) != Some(slot) {
                    new.init_volume(&mut *client, v)?;
                }
            }
        }
        _ if p.based_on_generation.is_none() => {
            // A new class: its lease area is written before its metadata, so no other
            // node can find the class before its leases exist.
            let (disks, mut client) = backend.lease_parts(new.host_id.get());
            new.init_all(&mut *client, disks)?;
            println!(
                "class {}: lease area written (lockspace {})",
                p.class,
                new.lockspace()
            );
        }
        _ => {
            return Err(CliError::Refused(format!(
                "class {}: shared, but no lease area is recorded on its disks; nothing was changed",
                p.class
            )))
        }
    }
    let names: Vec<String> = p.new_meta.volumes.iter().map(|v| v.name.clone()).collect();
    take(
        backend,
        &p.new_meta,
        &new,
        &names,
        std::time::Duration::ZERO,
    )?;
    Ok(Some(SharedChange { before: current }))
}

/// After a shared class's plan ran: give back the leases of volumes it removed, and
/// the class lease.
pub(super) fn shared_done(
    p: &Plan,
    change: &SharedChange,
    bindings: &[DiskBinding],
    backend: &mut Backend,
) -> Result<(), CliError> {
    let paths = disk_paths(bindings);
    if let Some(cur) = &change.before {
        let now = class_leases(backend, cur, &paths)?;
        let gone: Vec<Option<&str>> = cur
            .volumes
            .iter()
            .filter(|v| p.new_meta.volumes.iter().all(|n| n.name != v.name))
            .map(|v| Some(v.name.as_str()))
            .collect();
        give_back(backend, &now, &gone)?;
    }
    let new = class_leases(backend, &p.new_meta, &paths)?;
    give_back(backend, &new, &[None])?;
    Ok(())
}

fn disk_paths(bindings: &[DiskBinding]) -> std::collections::BTreeMap<String, std::path::PathBuf> {
    bindings
        .iter()
        .map(|b| (b.name.clone(), b.path.clone()))
        .collect()
}

/// The leases of shared class `c` as this node sees them, for `status` (never fails
/// on the leases themselves: their error is part of the answer).
pub(super) fn status(
    backend: &mut Backend,
    c: &dmclass_engine::assemble::ClassOnDisks,
) -> dmclass_engine::lease::status::LeaseStatus {
    let paths = c.present_paths();
    let cl = match class_leases(backend, &c.meta, &paths) {
        Ok(cl) => cl,
        Err(e) => {
            return dmclass_engine::lease::status::LeaseStatus {
                lockspace: dmclass_engine::lease::lockspace_name(c.meta.uuid),
                node: node_name(backend).unwrap_or_default(),
                host_id: 0,
                joined: false,
                hosts: Vec::new(),
                volumes: Vec::new(),
                error: Some(e.to_string()),
            }
        }
    };
    let volumes: Vec<String> = c.meta.volumes.iter().map(|v| v.name.clone()).collect();
    let (disks, client) = backend.lease_parts(cl.host_id.get());
    cl.status(&*client, &*disks, &volumes)
}
