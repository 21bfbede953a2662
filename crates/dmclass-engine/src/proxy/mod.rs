//! GDS proxy volumes (GDS Snapshot, DESIGN.md §1): a full copy of a master volume in
//! another group of the same class.
//!
//! Mechanism (the split-with-tracking of `reference/raid_split_readd.md` §1):
//! * storage: ONE raid1 leg (1 MiB rmeta + image of the master's size) on the proxy
//!   group's first member (one leg is enough for a point-in-time copy; a proxy is not
//!   redundancy, GDS §4.1). Only raid1 masters whose legs all have an rmeta, one proxy
//!   per master; the proxy leg is slot `N` of the master (N = the master's own legs).
//! * joined: the master's raid1 lists its legs plus the proxy leg (`_rmeta_N`,
//!   `_rimage_N`); the first join (and a rejoin after a read-write part) loads it with
//!   `rebuild N` (full copy), later loads without (normal leg).
//! * part: the master is loaded with slot N as `- -`, suspended (flush) and resumed;
//!   the proxy leg's `_rmeta_N`/`_rimage_N` devices go, and the proxy device
//!   `dmclass-<class>-<proxy>` maps the leg's image directly (linear). The master's
//!   write-intent bitmap records every region written from now on.
//! * rejoin: the proxy device goes, the master is loaded with slot N back, without
//!   `rebuild` (bitmap-limited recovery: only regions the master changed) — unless the
//!   proxy was parted read-write (`written`): proxy-side writes are not tracked, so the
//!   rejoin is a full copy (`rebuild N`). `dmclass proxy part --readonly` loads the
//!   proxy device read-only and keeps the rejoin incremental.
//! * restore (GDS RejoinRestore): the master must not be open; the proxy device goes
//!   and the master is loaded with slot N back and `rebuild` on each of its own legs,
//!   so md copies the proxy onto them — a full copy (not incremental); the proxy ends
//!   joined.
//! * break: the relationship ends; a joined proxy is parted first; the proxy becomes an
//!   ordinary one-leg volume on its group with its data.

pub mod state;

use crate::error::io_err;
use crate::error::{EngineError, Result};
use crate::io::Kernel;
use crate::layout::{Extent, Leg};
use crate::metadata::{ClassMeta, ProxyStateMeta, SnapshotKindMeta, VolumeMeta};
use crate::names::{dm_name, dm_uuid, Layer};
use crate::status::{parse_raid_status, RaidHealth};
use crate::tables::{segment_lines, Activation, DeviceRole, DeviceSpec};
use uuid::Uuid;

/// A proxy as recorded in the class description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRef<'a> {
    /// Proxy name.
    pub name: &'a str,
    /// Proxy UUID (its dm UUID).
    pub uuid: Uuid,
    /// Master volume.
    pub master: &'a str,
    /// Group holding the proxy.
    pub on: &'a str,
    /// Joined or parted.
    pub state: ProxyStateMeta,
    /// The proxy's leg.
    pub leg: &'a Leg,
    /// Parted read-write (the next rejoin is a full copy).
    pub written: bool,
    /// Parted read-only.
    pub readonly: bool,
}

impl ProxyRef<'_> {
    /// What the next rejoin copies: `incremental` or `full copy`.
    pub fn rejoin_mode(&self) -> &'static str {
        if self.written {
            "full copy"
        } else {
            "incremental"
        }
    }
}

/// Every proxy of the class, in recorded order.
pub fn proxies(meta: &ClassMeta) -> Vec<ProxyRef<'_>> {
    meta.snapshots
        .iter()
        .filter_map(|s| match &s.kind {
            SnapshotKindMeta::Proxy {
                on,
                state,
                leg: Some(leg),
                written,
                readonly,
            } => Some(ProxyRef {
                name: &s.name,
                uuid: s.uuid,
                master: &s.origin,
                on,
                state: *state,
                leg,
                written: *written,
                readonly: *readonly,
            }),
            _ => None,
        })
        .collect()
}

/// The proxy named `name`.
pub fn find<'a>(meta: &'a ClassMeta, name: &str) -> Option<ProxyRef<'a>> {
    proxies(meta).into_iter().find(|p| p.name == name)
}

/// The proxy of master `master` (at most one).
pub fn proxy_of<'a>(meta: &'a ClassMeta, master: &str) -> Option<ProxyRef<'a>> {
    proxies(meta).into_iter().find(|p| p.master == master)
}

/// Extents used by proxy legs (for the allocator).
pub fn leg_extents(meta: &ClassMeta) -> Vec<&Extent> {
    meta.snapshots
        .iter()
        .filter_map(|s| match &s.kind {
            SnapshotKindMeta::Proxy { leg: Some(l), .. } => Some(l.extents()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The master as its raid1 is built: its own legs plus its proxy's leg, and the slot
/// to leave out (`- -`) while the proxy is parted.
pub fn master_view(meta: &ClassMeta, vol: &VolumeMeta) -> (VolumeMeta, Vec<usize>) {
    let mut v = vol.clone();
    let mut missing = Vec::new();
    if let Some(p) = proxy_of(meta, &vol.name) {
        if p.state == ProxyStateMeta::Parted {
            missing.push(v.layout.legs.len());
        }
        v.layout.legs.push(p.leg.clone());
    }
    (v, missing)
}

/// Activation hook: add the proxy leg to master `v` (already adjusted for missing
/// disks); parted, or with a disk absent (`present` false), it is `- -`.
pub(crate) fn activation_view(
    meta: &ClassMeta,
    v: &mut VolumeMeta,
    act: &mut Activation,
    present: &dyn Fn(&str) -> bool,
) {
    let Some(p) = proxy_of(meta, &v.name) else {
        return;
    };
    let slot = v.layout.legs.len();
    let here = p.leg.disks().iter().all(|d| present(d));
    if p.state == ProxyStateMeta::Parted || !here {
        act.missing.push(slot);
    } else if p.leg.state == crate::layout::SliceState::Copy {
        act.rebuild.push(slot);
    }
    v.layout.legs.push(p.leg.clone());
}

/// The device of a parted proxy: its leg's image mapped directly (read-only when
/// parted with `--readonly`).
pub fn proxy_device(class: &str, class_uuid: Uuid, p: &ProxyRef) -> Result<DeviceSpec> {
    Ok(DeviceSpec {
        name: dm_name(class, p.name, Layer::Top)?,
        uuid: dm_uuid(class_uuid, p.uuid, Layer::Top),
        table: segment_lines(&p.leg.segments),
        hidden: false,
        read_only: p.readonly,
        children: Vec::new(),
        role: DeviceRole::Top,
    })
}

/// Devices of the parted proxies of `master` whose disks are `present` (activation
/// hook).
pub(crate) fn parted_devices(
    meta: &ClassMeta,
    master: &str,
    present: &dyn Fn(&str) -> bool,
) -> Result<Vec<DeviceSpec>> {
    proxies(meta)
        .iter()
        .filter(|p| p.master == master && p.state == ProxyStateMeta::Parted)
        .filter(|p| p.leg.disks().iter().all(|d| present(d)))
        .map(|p| proxy_device(&meta.name, meta.uuid, p))
        .collect()
}

/// The proxies as configuration entries (export).
pub fn exported(meta: &ClassMeta) -> Vec<dmclass_model::Snapshot> {
    use dmclass_model::{CopyMode, Located, Name, ProxyState, SnapshotKind, Span};
    let loc = |s: &str| Located {
        value: Name(s.to_owned()),
        span: Span::default(),
    };
    proxies(meta)
        .into_iter()
        .map(|p| dmclass_model::Snapshot {
            name: Name(p.name.to_owned()),
            origin: loc(p.master),
            kind: SnapshotKind::Proxy {
                on: loc(p.on),
                state: match p.state {
                    ProxyStateMeta::Joined => ProxyState::Joined,
                    ProxyStateMeta::Parted => ProxyState::Parted,
                },
                copy: CopyMode::Software,
            },
            span: Span::default(),
        })
        .collect()
}

fn refused(meta: &ClassMeta, object: &str, reason: String) -> EngineError {
    EngineError::refused(&meta.name, object, reason)
}

/// Part precondition: the master is live and every slot, the proxy's included, is in
/// sync (`A…A`, idle). A master that is not active is not checked (its proxy leg was
/// in sync when it stopped, or it is rebuilt from the start at the next activation).
pub fn check_in_sync(kernel: &dyn Kernel, meta: &ClassMeta, proxy: &str) -> Result<()> {
    let obj = format!("proxy {proxy}");
    let Some(p) = find(meta, proxy) else {
        return Err(refused(meta, &obj, "no such proxy".into()));
    };
    let top = dm_name(&meta.name, p.master, Layer::Top)?;
    let live = kernel
        .info(&top)
        .map_err(|e| io_err(format!("device {top}"), e))?
        .is_some_and(|i| i.live_table);
    if !live {
        return Ok(());
    }
    let st = kernel
        .status(&top)
        .map_err(|e| io_err(format!("status of {top}"), e))?;
    let Some(line) = st.first().filter(|l| l.target == "raid") else {
        return Err(refused(meta, &obj, format!("master {top} is not a raid1")));
    };
    let r = parse_raid_status(&line.params)?;
    let slot = meta.volume(p.master).map_or(0, |v| v.layout.legs.len());
    match r.health.get(slot) {
        Some(RaidHealth::InSync) if r.in_sync() => Ok(()),
        Some(RaidHealth::InSync | RaidHealth::Syncing) => Err(refused(
            meta,
            &obj,
            format!(
                "the copy to the proxy is not finished ({:.1}%); part it once status shows it JOINED",
                r.percent()
            ),
        )),
        _ => Err(refused(
            meta,
            &obj,
            "its leg is not part of the live master (failed or absent); rejoin it first".into(),
        )),
    }
}
