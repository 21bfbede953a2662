//! Boot environments: bootable copies of a root class's system volumes (GDS's
//! alternative boot environment, `sdxproxy Root`; the idea of ZFS's `bectl` and of
//! boom's snapshot boot entries).
//!
//! An environment is a set of parted proxies, one per volume of the root class, on the
//! class's boot-environment group (a second group of whole disks,
//! [`crate::root::env_group`]). The class's own volumes are the environment
//! [`PRIMARY`]. Each environment boots through its own UEFI boot entry per ESP whose
//! command line names its root proxy (`root=/dev/dmclass/CLASS/PROXY
//! dmclass.root=CLASS/PROXY`); its `/etc/fstab` is rewritten on the copy only, so the
//! copy mounts its own volumes.
//!
//! * [`cmdline`]: an environment's kernel command line from the running one;
//! * [`fstab`]: the copy's `/etc/fstab` with the masters' names replaced;
//! * [`entries`]: the boot entries' labels, and which environment boots next;
//! * [`list`]: what `dmclass bootenv list` shows.
//!
//! The CLI (`dmclass bootenv`) joins and parts the proxies through the ordinary proxy
//! planner, freezes the file systems for the part, mounts the copy, and runs
//! `efibootmgr`. docs/boot-environments.md tells the whole story.

pub mod cmdline;
pub mod entries;
pub mod fstab;
pub mod list;

use crate::metadata::ClassMeta;
pub use crate::metadata::{BootEnvMeta, BootEnvState, EnvVolume};

/// The name of the environment made of the class's own volumes.
pub use crate::metadata::PRIMARY_BOOT_ENV as PRIMARY;

/// The proxy that holds environment `env`'s copy of `volume`.
pub fn proxy_name(env: &str, volume: &str) -> String {
    format!("{env}-{volume}")
}

/// The environment a proxy belongs to, if any.
pub fn env_of_proxy<'a>(meta: &'a ClassMeta, proxy: &str) -> Option<&'a BootEnvMeta> {
    meta.boot_envs
        .iter()
        .find(|e| e.volumes.iter().any(|v| v.proxy == proxy))
}

/// The environment named `name`, if recorded.
pub fn find<'a>(meta: &'a ClassMeta, name: &str) -> Option<&'a BootEnvMeta> {
    meta.boot_envs.iter().find(|e| e.name == name)
}

/// Why `name` cannot be a new environment of `meta` (`None`: it can).
pub fn name_refusal(meta: &ClassMeta, name: &str) -> Option<String> {
    if name == PRIMARY {
        return Some(format!(
            "`{PRIMARY}` is the environment of the class's own volumes"
        ));
    }
    if let Err(e) = dmclass_model::Name::new(name) {
        return Some(e.to_string());
    }
    if find(meta, name).is_some() {
        return None; // resumed by the caller when still `creating`
    }
    for v in &meta.volumes {
        let p = proxy_name(name, &v.name);
        if let Err(e) = dmclass_model::Name::new(&p) {
            return Some(format!(
                "its proxy for volume {} would be named `{p}`: {e}; choose a shorter name",
                v.name
            ));
        }
        if meta.volume(&p).is_some() || meta.snapshots.iter().any(|s| s.name == p) {
            return Some(format!(
                "its proxy for volume {} would be named `{p}`, which the class already has",
                v.name
            ));
        }
    }
    None
}

/// `meta` with environment `env` recorded (replacing one of the same name), one
/// generation on: what `bootenv create` writes before and after parting.
pub fn recorded(meta: &ClassMeta, env: BootEnvMeta) -> ClassMeta {
    let mut next = meta.clone();
    next.generation = next.generation.saturating_add(1);
    match next.boot_envs.iter_mut().find(|e| e.name == env.name) {
        Some(e) => *e = env,
        None => next.boot_envs.push(env),
    }
    next
}

/// `meta` without environment `name`, one generation on (its proxies stay, as plain
/// proxies, until `bootenv remove` breaks and removes them).
pub fn forgotten(meta: &ClassMeta, name: &str) -> ClassMeta {
    let mut next = meta.clone();
    next.generation = next.generation.saturating_add(1);
    next.boot_envs.retain(|e| e.name != name);
    next
}

/// `name` renamed to `to`, one generation on (its proxies keep their names).
pub fn renamed(meta: &ClassMeta, name: &str, to: &str) -> ClassMeta {
    let mut next = meta.clone();
    next.generation = next.generation.saturating_add(1);
    for e in &mut next.boot_envs {
        if e.name == name {
            to.clone_into(&mut e.name);
        }
    }
    next
}

/// The proxies named like environment `name`'s (`NAME-VOLUME`, one per volume of the
/// class) that the class holds as proxies of those volumes: what an environment cut
/// before it was recorded, or before its removal finished, left behind.
pub fn leftovers(meta: &ClassMeta, name: &str) -> Vec<EnvVolume> {
    meta.volumes
        .iter()
        .filter_map(|v| {
            let p = proxy_name(name, &v.name);
            crate::proxy::find(meta, &p)
                .filter(|x| x.master == v.name)
                .map(|_| EnvVolume {
                    volume: v.name.clone(),
                    proxy: p,
                })
        })
        .collect()
}
