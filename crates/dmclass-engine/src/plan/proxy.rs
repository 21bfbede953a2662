//! Proxy volumes in the planner (mechanism in [`crate::proxy`]).
//!
//! Declarative (`apply`): a proxy in the file with `state: joined` is created (one leg
//! allocated on its group, rebuilt as slot N of the master) or rejoined; `state:
//! parted` parts a joined proxy. A proxy on disk that is missing from the file is
//! refused (break it with `dmclass proxy break`). Imperative ([`plan_proxy`]): part
//! (optionally read-only), rejoin, restore, break.
//!
//! Kernel order for one master (when it is live): the old proxy device goes (rejoin,
//! restore; refused while open), the master stack is reloaded like a grown volume
//! (new `_rmeta_N`/`_rimage_N` created first, master loaded, suspended with flush,
//! resumed, verified, unused layers removed last), then the new proxy device is
//! created (part). Metadata is written before the kernel changes; a final write marks
//! legs the kernel is rebuilding `ACTIVE` (as for an added leg).

use super::change::Change;
use super::current::current;
use super::devices::specs;
use super::proxy_track::{
    ensure_track, format_steps, incremental_copy, leg_mut, track_of, zero_tracks,
};
use super::steps::{create_steps, reload};
use super::{Action, ActionKind, Actual, DiskBinding, Ids, Plan, PlanOptions, Step};
use crate::alloc::{Allocator, Target};
use crate::error::{refuse, Result};
use crate::layout::{SliceState, VolumeLayout};
use crate::metadata::{
    ClassMeta, EngineMeta, IntentChange, IntentOp, ModeMeta, ProxyStateMeta, SnapshotKindMeta,
    SnapshotMeta, VolumeMeta,
};
use crate::names::{dm_name, Layer};
use crate::proxy::{device_names, find, proxy_devices, proxy_of};
use dmclass_model::{Bytes, Class, CopyMode, ProxyState, SnapshotKind};

fn kind_mut(s: &mut SnapshotMeta) -> Option<(&mut ProxyStateMeta, &mut bool, &mut bool)> {
    match &mut s.kind {
        SnapshotKindMeta::Proxy {
            state,
            written,
            readonly,
            ..
        } => Some((state, written, readonly)),
        SnapshotKindMeta::Cow { .. } => None,
    }
}

/// Part: parted, read-write unless `readonly` (then the rejoin stays incremental).
/// The leg is a complete copy: the executor parts only after the kernel reports the
/// copy finished, also when a join cut short left the leg recorded `COPY`.
fn set_parted(s: &mut SnapshotMeta, readonly: bool) {
    if let Some((state, written, ro)) = kind_mut(s) {
        *state = ProxyStateMeta::Parted;
        *written = !readonly;
        *ro = readonly;
    }
    if let Some(l) = leg_mut(s) {
        l.state = SliceState::Active;
    }
}

/// Rejoin: joined. A proxy parted read-write is rebuilt whole (`COPY`) only when its
/// writes were not tracked, or its master is not live (the copy of the proxy's
/// changed regions reads the live master); otherwise the rejoin copies the regions
/// its tracking bitmap marks ([`Step::CopyTracked`]) and the kernel the master's.
/// True when the rejoin is a full copy of a proxy parted read-write.
fn set_joined(s: &mut SnapshotMeta, master_live: bool) -> bool {
    let tracked = track_of(s).is_some();
    let written = kind_mut(s).is_some_and(|(_, w, _)| *w);
    let full = written && !(tracked && master_live);
    if let Some((state, written, ro)) = kind_mut(s) {
        *state = ProxyStateMeta::Joined;
        *written = false;
        *ro = false;
    }
    // Recorded `COPY` even when the rejoin is incremental: the copy of the proxy's
    // regions runs after this write, so a rejoin stopped before it ends is finished
    // by `activate` as a full rebuild; a second write marks the leg `ACTIVE` once the
    // regions are copied ([`incremental_copy`]).
    if let Some(l) = leg_mut(s) {
        if written {
            l.state = SliceState::Copy;
        }
    }
    full
}

/// Checks shared by a new proxy: the master can carry one.
fn check_master(class: &str, meta: &ClassMeta, name: &str, master: &str) -> Result<()> {
    let obj = format!("proxy {name}");
    let Some(v) = meta.volume(master) else {
        return refuse(
            class,
            &obj,
            format!("its master volume {master} does not exist"),
        );
    };
    if v.engine != EngineMeta::Raid1
        || v.layout.legs.len() < 2
        || v.layout.legs.iter().any(|l| l.rmeta.is_none())
    {
        return refuse(
            class,
            &obj,
            format!("its master {master} is not a raid1 mirror volume (a proxy joins as an extra raid1 leg)"),
        );
    }
    if let Some(p) = proxy_of(meta, master) {
        return refuse(
            class,
            &obj,
            format!(
                "master {master} already has proxy {}; one proxy per master is supported",
                p.name
            ),
        );
    }
    if !crate::cow::snapshots_of(meta, master).is_empty() {
        return refuse(
            class,
            &obj,
            format!("master {master} has copy-on-write snapshots; a master cannot have both"),
        );
    }
    Ok(())
}

/// A new joined proxy of `master` on group `on`: its leg allocated (state `COPY`).
fn new_proxy(
    class: &str,
    meta: &ClassMeta,
    name: &str,
    master: &str,
    on: &str,
    ids: &mut Ids,
) -> Result<SnapshotMeta> {
    check_master(class, meta, name, master)?;
    let obj = format!("proxy {name}");
    let Some(v) = meta.volume(master) else {
        return refuse(class, &obj, "no master");
    };
    if meta.group(on).is_none() {
        return refuse(class, &obj, format!("group {on} does not exist"));
    }
    if v.on == on {
        return refuse(
            class,
            &obj,
            format!("it is on {on}, the group of its master"),
        );
    }
    let target = Target::resolve(meta, on, EngineMeta::Raid1, true)?;
    let Some(lt) = target.legs.first() else {
        return refuse(class, &obj, format!("group {on} has no member"));
    };
    let mut alloc = Allocator::for_class(meta)?;
    let layout = alloc.add_leg(name, &v.layout, lt, true)?;
    let Some(leg) = layout.legs.last().cloned() else {
        return refuse(class, &obj, "no leg allocated");
    };
    Ok(SnapshotMeta {
        name: name.to_owned(),
        uuid: ids.next(),
        origin: master.to_owned(),
        kind: SnapshotKindMeta::Proxy {
            on: on.to_owned(),
            state: ProxyStateMeta::Joined,
            leg: Some(leg),
            written: false,
            readonly: false,
            track: None,
        },
    })
}

/// Diff hook: proxies of the file against the recorded ones. `destroy` is
/// `--allow-destroy` and the plan's notes: joining a proxy parted read-write discards
/// its own writes, a destructive change like removing a volume.
pub(crate) fn diff(
    class: &str,
    desired: &Class,
    meta: &mut ClassMeta,
    changes: &[Change],
    destroy: (bool, &mut Vec<String>),
    (live, ids): (&[String], &mut Ids),
) -> Result<()> {
    let (allow_destroy, notes) = destroy;
    for s in &desired.snapshots {
        let SnapshotKind::Proxy { on, state, copy } = &s.kind else {
            continue;
        };
        let (name, master) = (s.name.as_str(), s.origin.value.as_str());
        let obj = format!("proxy {name}");
        if *copy == CopyMode::Offload {
            return refuse(class, &obj, "copy: offload (array copy) is not available with device-mapper; use copy: software");
        }
        let reshaped = changes
            .iter()
            .any(|c| matches!(c, Change::Grow(n) | Change::AddLeg(n) if n == master));
        if reshaped || changes.iter().any(|c| matches!(c, Change::AddLeg(_))) {
            return refuse(class, &obj, "legs are added or a master grows in this apply; apply that first, without proxy changes");
        }
        match meta.snapshots.iter().position(|x| x.name == name) {
            None => {
                if *state == ProxyState::Parted {
                    return refuse(
                        class,
                        &obj,
                        "a new proxy is joined first (state: joined); part it once it is in sync",
                    );
                }
                let p = new_proxy(class, meta, name, master, on.value.as_str(), ids)?;
                meta.snapshots.push(p);
            }
            Some(i) => {
                let Some(p) = find(meta, name) else {
                    return refuse(class, &obj, "a copy-on-write snapshot has that name");
                };
                if p.master != master || p.on != on.value.as_str() {
                    return refuse(class, &obj, format!("changing its master or group (recorded: master {}, on {}) is not supported", p.master, p.on));
                }
                let (have, read_write) = (p.state, !p.readonly);
                match (have, state) {
                    (ProxyStateMeta::Joined, ProxyState::Parted) => {
                        set_parted(&mut meta.snapshots[i], false);
                        ensure_track(class, meta, i)?;
                    }
                    (ProxyStateMeta::Parted, ProxyState::Joined) => {
                        if read_write && !allow_destroy {
                            return refuse(class, &obj, "state: joined discards what was written to the proxy since it was parted read-write (the master is copied over it); pass --allow-destroy to join it anyway");
                        }
                        let top = dm_name(class, master, Layer::Top)?;
                        let full = set_joined(&mut meta.snapshots[i], live.contains(&top));
                        if read_write {
                            let how = if full {
                                "full copy"
                            } else {
                                "the regions either side changed"
                            };
                            notes.push(format!("{obj}: joining destroys the proxy's own writes since it was parted read-write ({how} from {master})"));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for p in crate::proxy::proxies(meta) {
        if !desired.snapshots.iter().any(|s| s.name.as_str() == p.name) {
            return refuse(class, &format!("proxy {}", p.name), "it is not in the file; end the relationship with `dmclass proxy break` (or add it back)");
        }
        if meta.volume(p.master).is_none() {
            return refuse(
                class,
                &format!("proxy {}", p.name),
                format!(
                    "its master {} is being removed; break the proxy first",
                    p.master
                ),
            );
        }
    }
    Ok(())
}

fn zero_rmeta(s: &SnapshotMeta, out: &mut Vec<Action>) {
    if let SnapshotKindMeta::Proxy { leg: Some(l), .. } = &s.kind {
        if let Some(e) = &l.rmeta {
            out.push(Action {
                kind: ActionKind::ZeroExtent,
                object: e.disk.clone().into(),
                detail: format!(
                    "proxy {} rmeta: {} bytes at byte {}",
                    s.name,
                    e.len.0 * 512,
                    e.offset.0 * 512
                )
                .into(),
                step: Step::Zero {
                    disk: std::rc::Rc::new(e.disk.clone()),
                    offset: Bytes(e.offset.0 * 512),
                    len: Bytes(e.len.0 * 512),
                },
            });
        }
    }
}

/// Before the metadata write: zero the rmeta of new proxies.
pub(crate) fn pre_meta(old: Option<&ClassMeta>, meta: &ClassMeta, out: &mut Vec<Action>) {
    for s in &meta.snapshots {
        if find(meta, &s.name).is_some() && old.and_then(|o| find(o, &s.name)).is_none() {
            zero_rmeta(s, out);
        }
    }
}

/// Masters whose proxy changed between `old` and `meta`.
fn changed_masters(old: &ClassMeta, meta: &ClassMeta) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in &old.volumes {
        let (a, b) = (proxy_of(old, &v.name), proxy_of(meta, &v.name));
        let same = match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.state == b.state
                    && a.readonly == b.readonly
                    && a.leg == b.leg
                    && a.track == b.track
            }
            _ => false,
        };
        if !same {
            out.push(v.name.clone());
        }
    }
    out
}

fn remove(name: &str, why: &str) -> Action {
    Action {
        kind: ActionKind::Remove,
        object: name.to_owned().into(),
        detail: why.to_owned().into(),
        step: Step::Remove {
            name: name.to_owned(),
        },
    }
}

/// Kernel changes of one live master whose proxy changed.
fn master_actions(
    old: &ClassMeta,
    meta: &ClassMeta,
    (master, staged): (&str, Vec<Action>),
    actual: &Actual,
    out: &mut Vec<Action>,
) -> Result<bool> {
    let live = |n: &str| actual.live.iter().find(|i| i.name == n);
    let (Some(ov), Some(nv)) = (old.volume(master), meta.volume(master)) else {
        return Ok(false);
    };
    if live(&dm_name(&meta.name, master, Layer::Top)?).is_none() {
        return Ok(false); // inactive: the next activation builds the new state
    }
    let (op, np) = (proxy_of(old, master), proxy_of(meta, master));
    let was_parted = op.filter(|p| p.state == ProxyStateMeta::Parted);
    let now_parted = np.filter(|p| p.state == ProxyStateMeta::Parted);
    // A broken proxy becomes a volume under the same dm name and UUID.
    let became_volume = was_parted.and_then(|p| meta.volume(p.name).map(|v| (p, v)));
    if let Some(p) = was_parted {
        let keep = now_parted
            .is_some_and(|n| n.readonly == p.readonly && n.tracked() == p.tracked())
            || became_volume.is_some_and(|(p, _)| !p.readonly && !p.tracked());
        let dev = dm_name(&meta.name, p.name, Layer::Top)?;
        if let (false, Some(i)) = (keep, live(&dev)) {
            if i.open_count > 0 {
                return refuse(
                    &meta.name,
                    &format!("proxy {}", p.name),
                    crate::error::busy(format!("device {dev}"), i.open_count),
                );
            }
        }
        if !keep {
            for name in device_names(&meta.name, &p)? {
                if live(&name).is_some() {
                    out.push(remove(
                        &name,
                        &format!("proxy {} leaves its parted state", p.name),
                    ));
                }
            }
        }
    }
    // Read-write part rejoined incrementally: the regions the proxy changed come back
    // from the master now (its device is gone); the kernel's bitmap recovery brings
    // the master's when the master is loaded below.
    out.extend(staged);
    reload(meta, old, nv, ov, &live, actual.node.as_deref(), out)?;
    if let Some(n) = now_parted {
        let same =
            was_parted.is_some_and(|p| p.readonly == n.readonly && p.tracked() == n.tracked());
        if !same && n.tracked() {
            // its tracking rmeta was zeroed by this plan ([`zero_tracks`])
            format_steps(meta, &n, out)?;
        } else if !same {
            for spec in proxy_devices(meta, &n)? {
                create_steps(&spec, out);
            }
        }
    }
    // A broken proxy that was joined (or read-only) gets its volume device now.
    if let Some(p) = op {
        if let Some(v) = meta.volume(p.name) {
            let kept = was_parted.is_some_and(|w| !w.readonly && !w.tracked());
            if !kept {
                for s in specs(meta, v, actual.node.as_deref())? {
                    create_steps(&s, out);
                }
            }
        }
    }
    Ok(true)
}

/// The description once the kernel rebuilds: proxy and master legs `ACTIVE`.
fn settled(meta: &ClassMeta, masters: &[String]) -> Option<ClassMeta> {
    let mut m = meta.clone();
    let mut any = false;
    for v in m.volumes.iter_mut().filter(|v| masters.contains(&v.name)) {
        for l in &mut v.layout.legs {
            any |= std::mem::replace(&mut l.state, SliceState::Active) != SliceState::Active;
        }
    }
    for s in m
        .snapshots
        .iter_mut()
        .filter(|s| masters.contains(&s.origin))
    {
        if let Some(l) = leg_mut(s) {
            any |= std::mem::replace(&mut l.state, SliceState::Active) != SliceState::Active;
        }
    }
    any.then(|| {
        m.generation += 1;
        m
    })
}

/// After the metadata write: kernel changes of live masters whose proxy changed,
/// then the settling write. New masters carry their proxy leg from the start.
pub(crate) fn post_meta(
    old: Option<&ClassMeta>,
    meta: &ClassMeta,
    changes: &[Change],
    actual: &Actual,
    out: &mut Vec<Action>,
) -> Result<()> {
    let mut rebuilt: Vec<String> = Vec::new();
    let mut cur = std::borrow::Cow::Borrowed(meta);
    if let Some(old) = old {
        zero_tracks(old, meta, out);
        for m in changed_masters(old, meta) {
            let mut staged = Vec::new();
            if let Some(next) = incremental_copy(old, &cur, &m, actual, &mut staged)? {
                cur = std::borrow::Cow::Owned(next);
            }
            if master_actions(old, &cur, (&m, staged), actual, out)? {
                rebuilt.push(m);
            }
        }
    }
    let meta: &ClassMeta = &cur;
    for c in changes {
        if let Change::NewVolume(n) = c {
            if proxy_of(meta, n).is_some() {
                rebuilt.push(n.clone());
            }
        }
    }
    if let Some(m) = settled(meta, &rebuilt) {
        out.push(Action::write_meta_all(
            &m,
            "proxy or master legs are being copied by the kernel",
        ));
    }
    Ok(())
}

/// An imperative proxy operation (`dmclass proxy ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyOp {
    /// Split the proxy off (read-only device with `readonly`: rejoin stays incremental).
    Part {
        /// Load the proxy device read-only.
        readonly: bool,
    },
    /// Re-attach and copy the master's changes (everything if parted read-write).
    Rejoin,
    /// Copy the proxy back onto the master (the regions either side changed; all
    /// when tracking was lost); the proxy ends joined.
    Restore,
    /// End the relationship; the proxy becomes an ordinary volume.
    Break,
}

/// Plan `op` on proxy `proxy` of the class on the bound disks.
pub fn plan_proxy(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    proxy: &str,
    op: ProxyOp,
    opts: &PlanOptions,
) -> Result<Plan> {
    let class = desired.name.as_str();
    super::intent::check_closed(class, actual)?;
    let cur = current(desired, bindings, actual)?;
    super::intent::check_pending(class, &cur)?;
    let Some(old) = cur.meta.clone() else {
        return refuse(
            class,
            &format!("class {class}"),
            "the class does not exist on these disks",
        );
    };
    let obj = format!("proxy {proxy}");
    let Some(p) = find(&old, proxy) else {
        return refuse(class, &obj, "no proxy of that name");
    };
    // A boot environment's proxies are `dmclass bootenv`'s: parted by its create,
    // restored onto their masters by its promotion, broken off by its remove (after
    // the environment is forgotten).
    if let Some(e) = crate::bootenv::env_of_proxy(&old, proxy) {
        let creating = e.state == crate::bootenv::BootEnvState::Creating;
        let ours = (creating && matches!(op, ProxyOp::Part { .. }))
            || (e.promote && op == ProxyOp::Restore);
        if !ours {
            return refuse(
                class,
                &obj,
                format!(
                    "it holds boot environment {}; `dmclass bootenv remove {}` takes it away",
                    e.name, e.name
                ),
            );
        }
    }
    let master = p.master.to_owned();
    let Some(i) = old.snapshots.iter().position(|s| s.name == proxy) else {
        return refuse(class, &obj, "no proxy of that name");
    };
    let mut meta = old.clone();
    let joined = p.state == ProxyStateMeta::Joined;
    match op {
        ProxyOp::Part { .. } if !joined => return refuse(class, &obj, "it is already parted"),
        ProxyOp::Rejoin | ProxyOp::Restore if joined => {
            return refuse(
                class,
                &obj,
                "it is joined (restore and rejoin need a parted proxy)",
            )
        }
        ProxyOp::Part { readonly } => {
            set_parted(&mut meta.snapshots[i], readonly);
            if !readonly {
                ensure_track(class, &mut meta, i)?;
            }
        }
        ProxyOp::Rejoin => {
            let top = dm_name(class, &master, Layer::Top)?;
            let live = actual.live.iter().any(|x| x.name == top && x.live_table);
            set_joined(&mut meta.snapshots[i], live);
        }
        ProxyOp::Restore => {
            let top = dm_name(class, &master, Layer::Top)?;
            if let Some(info) = actual
                .live
                .iter()
                .find(|x| x.name == top)
                .filter(|x| x.open_count > 0)
            {
                return refuse(class, &obj, format!("master {master} is in use (device {top} has {} opener(s)); restoring would change data under it — unmount or close it first", info.open_count));
            }
            set_joined(&mut meta.snapshots[i], false);
            if let Some(l) = leg_mut(&mut meta.snapshots[i]) {
                l.state = SliceState::Active; // the proxy is the source
            }
            if let Some(v) = meta.volumes.iter_mut().find(|v| v.name == master) {
                for l in &mut v.layout.legs {
                    l.state = SliceState::Copy;
                }
            }
        }
        ProxyOp::Break => {
            let s = meta.snapshots.remove(i);
            let Some(mv) = old.volume(&master) else {
                return refuse(class, &obj, "its master is missing");
            };
            let SnapshotKindMeta::Proxy {
                on,
                leg: Some(mut leg),
                ..
            } = s.kind
            else {
                return refuse(class, &obj, "no leg recorded");
            };
            if joined && leg.state == SliceState::Copy {
                return refuse(
                    class,
                    &obj,
                    "its first copy has not finished; part it once in sync, then break",
                );
            }
            leg.state = SliceState::Active;
            meta.volumes.push(VolumeMeta {
                name: s.name,
                uuid: s.uuid,
                on,
                size: mv.size,
                engine: EngineMeta::Raid1,
                jrm: mv.jrm,
                mode: ModeMeta::Rw,
                autostart: true,
                region: mv.region,
                layout: VolumeLayout {
                    legs: vec![leg],
                    log: None,
                },
                copy_rate: None,
                partition: None,
            });
        }
    }
    meta.generation += 1;
    let mut p = Plan::empty(&cur, desired, bindings, actual, meta.clone());
    p.actions.push(Action::write_meta_all(
        &meta,
        &format!("proxy {proxy}: {op:?}"),
    ));
    post_meta(Some(&old), &meta, &[], actual, &mut p.actions)?;
    let change = IntentChange {
        op: match op {
            ProxyOp::Part { .. } => IntentOp::ProxyPart,
            ProxyOp::Rejoin => IntentOp::ProxyRejoin,
            ProxyOp::Restore => IntentOp::ProxyRestore,
            ProxyOp::Break => IntentOp::ProxyBreak,
        },
        object: proxy.to_owned(),
    };
    let mut ids = super::Ids::new(opts.id_seed);
    super::intent::record_changes(&mut p, Some(&old), vec![change], None, &mut ids)?;
    Ok(p)
}

#[cfg(test)]
#[path = "tests_proxy.rs"]
mod tests;
