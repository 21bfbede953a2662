//! Netmirror classes on this node: export this node's own disk to the partner and
//! connect to the partner's, so that both disks are block devices here before `apply`
//! plans or `activate` assembles; `deactivate` undoes both (docs/netmirror.md).
//!
//! The simulator has one world that every simulated node sees whole: both disks are
//! there already, so only the decisions (which disk is whose, the refusals) run.

use super::context::found_classes;
use super::lease::node_name;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::metadata::{ClassMeta, GroupKindMeta};
use dmclass_engine::netmirror::links::{links, LinkDisk, Links};
use dmclass_engine::netmirror::restore::restore_legs;
use dmclass_engine::netmirror::secret::{self, Secrets};
use dmclass_engine::netmirror::transport::{ConnectOptions, Transport};
use dmclass_linux::nvme_tcp::NvmeTcp;
use dmclass_model::{ClassType, ClusterNode, Config, DiskSelector, GroupKind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the partner's namespace may take to appear as a block device.
const NAMESPACE_WAIT: Duration = Duration::from_secs(15);

fn refused(class: &str, what: impl std::fmt::Display) -> CliError {
    CliError::Refused(format!("class {class}: {what}"))
}

/// The links of every netmirror group of `config`'s classes, for this node, each with
/// the index of its class.
fn config_links(config: &Config, me: &str) -> Result<Vec<(usize, Links)>, CliError> {
    let mut out = Vec::new();
    for (i, c) in config.classes.iter().enumerate() {
        if c.class_type != ClassType::Shared {
            continue;
        }
        for g in c.groups.iter().filter(|g| g.kind == GroupKind::Netmirror) {
            let disks: Vec<LinkDisk> = g
                .members
                .iter()
                .filter_map(|m| c.disks.iter().find(|d| d.name == m.value))
                .map(|d| LinkDisk {
                    name: d.name.as_str().to_owned(),
                    node: d.node.clone().unwrap_or_default(),
                    path: match &d.selector {
                        DiskSelector::Device(p) => Some(p.clone()),
                        _ => None,
                    },
                })
                .collect();
            let secrets = secrets(c.name.as_str(), c.secret_file.as_deref(), &c.nodes)?;
            out.push((
                i,
                links(c.name.as_str(), &c.nodes, &disks, me, secrets.as_ref())?,
            ));
        }
    }
    Ok(out)
}

/// The class's secrets, read from its secrets file when it names one.
fn secrets(
    class: &str,
    file: Option<&Path>,
    nodes: &[ClusterNode],
) -> Result<Option<Secrets>, CliError> {
    let Some(file) = file else {
        return Ok(None);
    };
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    Ok(Some(secret::load(class, file, &names)?))
}

/// The links of every netmirror group of a class found on the disks, for this node:
/// its own disk is one of `present`. `with_secrets`: read the class's secrets file
/// (not needed to disconnect and withdraw).
fn meta_links(
    meta: &ClassMeta,
    present: &std::collections::BTreeMap<String, PathBuf>,
    me: &str,
    with_secrets: bool,
) -> Result<Vec<Links>, CliError> {
    let nodes = meta.cluster_nodes().ok_or_else(|| {
        refused(
            &meta.name,
            "its recorded nodes, host ids or addresses do not fit together; not connected",
        )
    })?;
    let file = meta
        .secret_file
        .as_deref()
        .filter(|_| with_secrets)
        .map(Path::new);
    let secrets = secrets(&meta.name, file, &nodes)?;
    let mut out = Vec::new();
    for g in meta
        .groups
        .iter()
        .filter(|g| g.kind == GroupKindMeta::Netmirror)
    {
        let disks: Vec<LinkDisk> = g
            .members
            .iter()
            .filter_map(|m| meta.disk(m))
            .map(|d| LinkDisk {
                name: d.name.clone(),
                node: d.node.clone().unwrap_or_default(),
                path: present.get(&d.name).cloned(),
            })
            .collect();
        out.push(links(&meta.name, &nodes, &disks, me, secrets.as_ref())?);
    }
    Ok(out)
}

/// Whether `meta` has a netmirror group.
pub(super) fn is_netmirror(meta: &ClassMeta) -> bool {
    meta.groups
        .iter()
        .any(|g| g.kind == GroupKindMeta::Netmirror)
}

/// Load the NVMe target and host drivers and mount configfs, as `dmsetup` relies on
/// dm-mod: a node that never ran a netmirror has neither.
fn prepare() {
    for m in ["nvmet-tcp", "nvme-tcp"] {
        let _ = std::process::Command::new("modprobe")
            .args(["-q", m])
            .status();
    }
    let mounted = std::fs::read_to_string("/proc/mounts")
        .is_ok_and(|m| m.lines().any(|l| l.contains(" /sys/kernel/config ")));
    if !mounted {
        let _ = std::process::Command::new("mount")
            .args(["-t", "configfs", "configfs", "/sys/kernel/config"])
            .status();
    }
}

/// Export this node's disk and connect to the partner's; returns the partner disk's
/// block device here. `connect: false` only looks for a connection made before.
fn reach(l: &Links, class: &str, connect: bool) -> Result<Option<PathBuf>, CliError> {
    let mut t = NvmeTcp::system();
    if connect {
        prepare();
        t.export(&l.export)?;
        eprintln!(
            "dmclass: class {class}: disk {} ({}) exported to {} at {}:{}",
            l.local_disk,
            l.export.device.display(),
            l.partner,
            l.export.listen.addr,
            l.export.listen.port
        );
        t.connect(
            l.remote_at,
            &l.remote_nqn,
            &l.host,
            &ConnectOptions::default(),
            l.auth.as_ref(),
        )
        .map_err(|e| {
            refused(
                class,
                format!(
                    "cannot reach disk {} on {} ({}:{}): {e}. Disk {} stays exported to \
                         {}: run dmclass on {} too (each node exports its own disk), or \
                         check the mirror network",
                    l.remote_disk,
                    l.partner,
                    l.remote_at.addr,
                    l.remote_at.port,
                    l.local_disk,
                    l.partner,
                    l.partner
                ),
            )
        })?;
    } else if t.connection(&l.remote_nqn)?.is_none() {
        return Ok(None);
    }
    let start = Instant::now();
    loop {
        if let Some(p) = t.namespace(&l.remote_nqn)? {
            if p.exists() {
                if connect {
                    eprintln!(
                        "dmclass: class {class}: disk {} of {} connected as {}",
                        l.remote_disk,
                        l.partner,
                        p.display()
                    );
                }
                return Ok(Some(p));
            }
        }
        if start.elapsed() >= NAMESPACE_WAIT {
            return Err(refused(
                class,
                format!(
                    "connected to disk {} of {}, but no block device appeared within {} s",
                    l.remote_disk,
                    l.partner,
                    NAMESPACE_WAIT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn settle() {
    let _ = std::process::Command::new("udevadm")
        .args(["settle", "--timeout=30"])
        .status();
}

/// `config` with every partner disk of its netmirror groups selected by its block
/// device on this node (connected first when `connect`; `plan` only uses connections
/// made before). The simulator: `config` as it is, once the links are decided.
pub(super) fn with_partner_disks(
    config: &Config,
    backend: &Backend,
    connect: bool,
) -> Result<Config, CliError> {
    let has_netmirror = config.classes.iter().any(|c| {
        c.class_type == ClassType::Shared && c.groups.iter().any(|g| g.kind == GroupKind::Netmirror)
    });
    if !has_netmirror {
        return Ok(config.clone());
    }
    let me = node_name(backend)?;
    let all = config_links(config, &me)?;
    if matches!(backend, Backend::Sim { .. }) {
        return Ok(config.clone());
    }
    let mut out = config.clone();
    let mut connected = false;
    for (i, l) in &all {
        let class = &mut out.classes[*i];
        let Some(path) = reach(l, class.name.as_str(), connect)? else {
            continue;
        };
        connected = true;
        if let Some(d) = class
            .disks
            .iter_mut()
            .find(|d| d.name.as_str() == l.remote_disk)
        {
            d.selector = DiskSelector::Device(path);
        }
    }
    if connected {
        settle();
    }
    Ok(out)
}

/// Connect this node to the partner disks `classes` miss (their own disk found here);
/// true when a disk was connected, so the caller scans again. A partner that cannot
/// be reached is a warning: the class goes on without its disk.
pub(super) fn reach_partners(
    backend: &Backend,
    classes: &[&ClassOnDisks],
) -> Result<bool, CliError> {
    let wanted: Vec<&&ClassOnDisks> = classes
        .iter()
        .filter(|c| is_netmirror(&c.meta) && !c.missing.is_empty())
        .collect();
    if wanted.is_empty() || matches!(backend, Backend::Sim { .. }) {
        return Ok(false);
    }
    let me = node_name(backend)?;
    let mut any = false;
    for c in wanted {
        for l in meta_links(&c.meta, &c.present_paths(), &me, true)? {
            if c.missing.contains(&l.remote_disk) {
                // An unreachable partner is not fatal here: the start lock decides
                // whether this node may start without its disk.
                match reach(&l, &c.meta.name, true) {
                    Ok(p) => any |= p.is_some(),
                    Err(e) => eprintln!("dmclass: warning: {e}"),
                }
            }
        }
    }
    if any {
        settle();
    }
    Ok(any)
}

/// Drop this node's connection to the partner's disk and withdraw its own export
/// (`deactivate` of a netmirror class, its volumes stopped here).
pub(super) fn withdraw(backend: &Backend, c: &ClassOnDisks) -> Result<(), CliError> {
    if !is_netmirror(&c.meta) || matches!(backend, Backend::Sim { .. }) {
        return Ok(());
    }
    let me = node_name(backend)?;
    let mut t = NvmeTcp::system();
    for l in meta_links(&c.meta, &c.present_paths(), &me, false)? {
        t.disconnect(&l.remote_nqn)?;
        t.unexport(&l.export.nqn)?;
        println!(
            "class {}: disconnected from disk {} of {}; disk {} no longer exported",
            c.meta.name, l.remote_disk, l.partner, l.local_disk
        );
    }
    Ok(())
}

/// `dmclass event reconnected /dev/nvmeN` (udev, `NVME_EVENT=connected`): the partner's
/// disk answers again, so every netmirror volume running here with a dead leg is
/// refreshed; dm-raid takes the leg back and copies the regions its bitmap marked.
pub(super) fn restore_after_reconnect(backend: &mut Backend, ctrl: &Path) -> Result<(), CliError> {
    let classes = found_classes(backend)?;
    for c in classes.iter().filter(|c| is_netmirror(&c.meta)) {
        let (kernel, _) = backend.parts();
        for r in restore_legs(&c.meta, kernel)? {
            let legs = |l: &[usize]| {
                l.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if r.still_dead.is_empty() {
                println!(
                    "class {}: volume {}: leg {} back ({} connected again); resyncing the \
                     regions written while it was away",
                    c.meta.name,
                    r.volume,
                    legs(&r.dead),
                    ctrl.display()
                );
            } else {
                eprintln!(
                    "dmclass: class {}: volume {}: leg {} still failed after {} connected \
                     again (its disk does not answer)",
                    c.meta.name,
                    r.volume,
                    legs(&r.still_dead),
                    ctrl.display()
                );
            }
        }
    }
    Ok(())
}
