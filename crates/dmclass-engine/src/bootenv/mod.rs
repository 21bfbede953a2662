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
//! * [`list`]: what `dmclass bootenv list` shows;
//! * [`promote_refusal`], [`promote_waits`]: making an environment the primary
//!   (`bootenv promote` records it; the next boot restores its proxies onto the
//!   masters before anything mounts them, names the masters in the root's fstab
//!   again, and removes the environment).
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

/// Why environment `name` of `meta` cannot be made the primary now, with the system
/// running from environment `running` (`None`: it can). GDS restores a proxy onto its
/// master only while the master is not in use: the running root must be the
/// environment itself, so the class's own volumes are closed at the next boot.
pub fn promote_refusal(meta: &ClassMeta, name: &str, running: Option<&str>) -> Option<String> {
    if name == PRIMARY {
        return Some(format!("`{PRIMARY}` is the class's own volumes already"));
    }
    let Some(e) = find(meta, name) else {
        return Some(format!(
            "class {} has no boot environment `{name}` (`dmclass bootenv list`)",
            meta.name
        ));
    };
    if e.state != BootEnvState::Ready {
        return Some(format!(
            "boot environment {name} was not finished (a create was cut short): run \
             `dmclass bootenv create {name}` again first"
        ));
    }
    if let Some(other) = meta.boot_envs.iter().find(|o| o.promote && o.name != name) {
        return Some(format!(
            "boot environment {} is already to be made the primary at the next boot",
            other.name
        ));
    }
    match running {
        Some(r) if r == name => None,
        Some(PRIMARY) => Some(format!(
            "the system runs from the class's own volumes, which the promotion overwrites: \
             boot into {name} first (`dmclass bootenv activate {name} --once`, reboot) and \
             run this there"
        )),
        Some(r) => Some(format!(
            "the system runs from boot environment {r}: boot into {name} first \
             (`dmclass bootenv activate {name} --once`, reboot) and run this there"
        )),
        None => Some(format!(
            "cannot tell which environment runs (`/` is not on a volume of class {}): boot \
             into {name} first",
            meta.name
        )),
    }
}

/// `meta` with environment `name` to be made the primary at the next boot (or no
/// longer, `on: false`), one generation on.
pub fn with_promote(meta: &ClassMeta, name: &str, on: bool) -> ClassMeta {
    let mut next = meta.clone();
    next.generation = next.generation.saturating_add(1);
    for e in &mut next.boot_envs {
        e.promote = on && e.name == name;
    }
    next
}

/// The environment recorded to be made the primary at the next boot, if any.
pub fn pending_promote(meta: &ClassMeta) -> Option<&BootEnvMeta> {
    meta.boot_envs.iter().find(|e| e.promote)
}

/// Why a recorded promotion of `env` cannot run in this boot (`None`: it can):
/// the kernel command line names one of its copies as the root (`booted`:
/// `dmclass.root=CLASS/VOLUME`), or one of the devices it overwrites or removes is
/// open (`open`: the class's volumes and the environment's proxies that are).
pub fn promote_waits(
    meta: &ClassMeta,
    env: &BootEnvMeta,
    booted: Option<(&str, &str)>,
    open: &[String],
) -> Option<String> {
    if let Some((class, root)) = booted {
        if class == meta.name && env.volumes.iter().any(|v| v.proxy == root) {
            return Some(format!(
                "this boot runs boot environment {} itself (dmclass.root={class}/{root})",
                env.name
            ));
        }
    }
    let busy: Vec<&str> = env
        .volumes
        .iter()
        .flat_map(|v| [v.volume.as_str(), v.proxy.as_str()])
        .filter(|n| open.iter().any(|o| o == n))
        .collect();
    (!busy.is_empty()).then(|| format!("{} in use (mounted?)", busy.join(", ")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(promote: bool) -> ClassMeta {
        let mut m = crate::testutil::sample_class();
        m.name = "sys".into();
        m.boot_envs.push(BootEnvMeta {
            name: "up".into(),
            created: 1,
            volumes: vec![EnvVolume {
                volume: "root".into(),
                proxy: "up-root".into(),
            }],
            root: Some("up-root".into()),
            state: BootEnvState::Ready,
            promote,
        });
        m
    }

    #[test]
    fn promotion_is_asked_for_from_inside_the_environment_only() {
        let m = with_env(false);
        assert_eq!(promote_refusal(&m, "up", Some("up")), None);
        let from_primary = promote_refusal(&m, "up", Some(PRIMARY)).unwrap();
        assert!(
            from_primary.contains("bootenv activate up --once"),
            "{from_primary}"
        );
        assert!(promote_refusal(&m, "up", None).is_some());
        assert!(promote_refusal(&m, "nope", Some("nope"))
            .unwrap()
            .contains("no boot environment"));
        assert!(promote_refusal(&m, PRIMARY, Some(PRIMARY)).is_some());
        let mut creating = m.clone();
        creating.boot_envs[0].state = BootEnvState::Creating;
        assert!(promote_refusal(&creating, "up", Some("up"))
            .unwrap()
            .contains("not finished"));
        // Recorded and taken back.
        let on = with_promote(&m, "up", true);
        assert_eq!(on.generation, m.generation + 1);
        assert_eq!(pending_promote(&on).map(|e| e.name.as_str()), Some("up"));
        assert!(pending_promote(&with_promote(&on, "up", false)).is_none());
    }

    #[test]
    fn a_recorded_promotion_waits_for_a_boot_that_leaves_both_sides_closed() {
        let m = with_env(true);
        let e = pending_promote(&m).unwrap();
        assert_eq!(promote_waits(&m, e, Some(("sys", "root")), &[]), None);
        assert_eq!(promote_waits(&m, e, None, &[]), None);
        let own = promote_waits(&m, e, Some(("sys", "up-root")), &[]).unwrap();
        assert!(own.contains("runs boot environment up itself"), "{own}");
        let open = promote_waits(&m, e, None, &["root".into()]).unwrap();
        assert!(open.starts_with("root in use"), "{open}");
        assert!(promote_waits(&m, e, None, &["up-root".into()]).is_some());
        assert_eq!(promote_waits(&m, e, None, &["other".into()]), None);
    }
}
