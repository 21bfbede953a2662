//! What `dmclass bootenv list` shows: every environment of a root class, the primary
//! first, with where it runs now and which one boots next.

use super::entries::NextBoot;
use super::{BootEnvState, PRIMARY};
use crate::metadata::ClassMeta;
use serde::Serialize;

/// One volume of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVolumeRow {
    /// The class volume.
    pub volume: String,
    /// The device holding the environment's copy (`/dev/dmclass/CLASS/NAME`).
    pub path: String,
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvRow {
    /// Its name ([`PRIMARY`]: the class's own volumes).
    pub name: String,
    /// `ready`, or `creating` (cut before it was finished: create it again or remove it).
    pub state: &'static str,
    /// Its volumes.
    pub volumes: Vec<EnvVolumeRow>,
    /// When it was created (RFC 3339, UTC; none for the primary).
    pub created: Option<String>,
    /// The running system is this environment.
    pub active_now: bool,
    /// The next boot starts this environment.
    pub active_next_boot: bool,
    /// ... for one boot only (`bootenv activate --once`).
    pub next_boot_once: bool,
    /// `bootenv promote` recorded: the next boot copies it onto the class's own
    /// volumes and removes it.
    pub promote_next_boot: bool,
    /// Bytes it holds on the class's disks (the primary: its volumes'; an environment:
    /// its proxies' copies and tracking metadata on the boot-environment group).
    pub space_bytes: u64,
}

/// The environments of `meta`; `running` is the environment `/` is mounted from,
/// `next` what the firmware boots next.
pub fn rows(meta: &ClassMeta, running: Option<&str>, next: Option<&NextBoot>) -> Vec<EnvRow> {
    let class = meta.name.as_str();
    let path = |n: &str| format!("/dev/dmclass/{class}/{n}");
    let next_env = next.and_then(|n| n.env.as_deref());
    let once = next.is_some_and(|n| n.once);
    let mut out = vec![EnvRow {
        name: PRIMARY.to_owned(),
        state: BootEnvState::Ready.as_str(),
        volumes: meta
            .volumes
            .iter()
            .map(|v| EnvVolumeRow {
                volume: v.name.clone(),
                path: path(&v.name),
            })
            .collect(),
        created: None,
        active_now: running == Some(PRIMARY),
        active_next_boot: next_env == Some(PRIMARY),
        next_boot_once: next_env == Some(PRIMARY) && once,
        promote_next_boot: false,
        space_bytes: meta.volumes.iter().map(|v| v.size.0 * 512).sum(),
    }];
    for e in &meta.boot_envs {
        let space: u64 = e
            .volumes
            .iter()
            .filter_map(|v| crate::proxy::find(meta, &v.proxy))
            .map(|p| {
                p.leg.extents().iter().map(|x| x.len.0).sum::<u64>()
                    + p.track.map_or(0, |t| t.len.0)
            })
            .sum::<u64>()
            * 512;
        out.push(EnvRow {
            name: e.name.clone(),
            state: e.state.as_str(),
            volumes: e
                .volumes
                .iter()
                .map(|v| EnvVolumeRow {
                    volume: v.volume.clone(),
                    path: path(&v.proxy),
                })
                .collect(),
            created: Some(crate::time::rfc3339_utc(e.created)),
            active_now: running == Some(e.name.as_str()),
            active_next_boot: next_env == Some(e.name.as_str()),
            next_boot_once: next_env == Some(e.name.as_str()) && once,
            promote_next_boot: e.promote,
            space_bytes: space,
        });
    }
    out
}

/// The environment whose volume or proxy `name` is (the device `/` is mounted from).
pub fn env_of_device(meta: &ClassMeta, name: &str) -> Option<String> {
    if let Some(e) = super::env_of_proxy(meta, name) {
        return Some(e.name.clone());
    }
    meta.volume(name).map(|_| PRIMARY.to_owned())
}
