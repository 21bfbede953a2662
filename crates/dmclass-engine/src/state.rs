//! Status model (GDS states, docs/concepts.md) derived from the class description, the
//! disks found and the kernel's status lines; JSON for `status --json` and an
//! `sdxinfo`-like text rendering.
//!
//! JSON (stable): `{name, uuid, type, generation, closed, closed_reason,
//! pending_intent, undo_pending?, disks: [{name, path, state, size, reason?}],
//! volumes: [{name, state, path, size, engine, group, sync_percent, slices: [{leg,
//! disk, state, sync_percent}]}]}`; sizes in bytes; `path` of a missing disk is null;
//! `sync_percent` is null when not mirrored or not active.
//!
//! Derivation: a volume without a live top device is `STOP` (`INVALID` when no leg
//! has all its disks); its slices are `STOP`, or `INVALID` when a disk is missing.
//! For a live raid1 volume each health char gives its slice state: `A` → `ACTIVE`,
//! `a` → `COPY` (with the sync percent), `D` and `-` → `INVALID`; dm-mirror legs are
//! `ACTIVE` when alive and in sync, `COPY` (legs after the first) while regions are
//! out of sync, else `INVALID`. A volume is `INVALID` when no slice is `ACTIVE`.

use crate::assemble::PresentDisk;
use crate::error::io_err;
use crate::error::Result;
use crate::io::Kernel;
use crate::layout::SliceState;
use crate::metadata::{ClassMeta, DiskState, EngineMeta, VolumeMeta};
use crate::names::{dm_name, user_path, Layer};
use crate::status::{parse_mirror_status, parse_raid_status, MirrorHealth, RaidHealth};
use serde::Serialize;
use std::fmt::Write as _;

/// Volume state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VolumeState {
    /// Started.
    Active,
    /// Not started.
    Stop,
    /// No usable slice.
    Invalid,
}

/// A disk's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskStatus {
    /// Name in the class.
    pub name: String,
    /// Device node (null when missing).
    pub path: Option<String>,
    /// `ENABLE`, `DISABLE` (missing, or on the machine but not trusted), `SPARE`.
    pub state: DiskState,
    /// Size in bytes at registration.
    pub size: u64,
    /// Why a disk that is on the machine is `DISABLE` (a crafted label, a stale
    /// copy); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One slice (mirror leg).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceStatus {
    /// Leg index.
    pub leg: usize,
    /// Disk(s) of the leg, `+`-joined for stripe/concat legs.
    pub disk: String,
    /// GDS slice state.
    pub state: SliceState,
    /// Resync progress while `COPY`.
    pub sync_percent: Option<f64>,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeStatus {
    /// Name.
    pub name: String,
    /// GDS volume state.
    pub state: VolumeState,
    /// `/dev/dmclass/<class>/<volume>`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `raid1` or `mirror`.
    pub engine: EngineMeta,
    /// Group or disk it lives on.
    pub group: String,
    /// Sync percent of a live mirrored volume.
    pub sync_percent: Option<f64>,
    /// Copy speed limit in bytes per second per disk (`copy_rate`); absent = the
    /// kernel default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_rate: Option<u64>,
    /// Slices.
    pub slices: Vec<SliceStatus>,
    /// Why a netmirror volume that is not running waits for the partner's disk
    /// ([`crate::netmirror::start_lock`]); absent otherwise. Filled by the shell,
    /// which reads the legs' superblocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_lock: Option<String>,
    /// A running netmirror volume whose leg on the partner's disk is out (the link or
    /// the partner down): what it waits for, naming the partner
    /// ([`partner_wait`]); absent otherwise. Filled by the shell,
    /// which knows the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_wait: Option<String>,
    /// The top device has a live table (not in JSON: `state` says it for people;
    /// the monitor needs it to tell a failed leg from a stopped volume).
    #[serde(skip)]
    pub live: bool,
}

/// Why running volume `vol` of netmirror class `meta` waits for the partner, seen from
/// node `node`: a leg on the partner's disk is out (`INVALID`) while the volume runs
/// here. The leg comes back by itself when the partner's disk answers again (the
/// connection reconnects, or the partner's `activate` exports it again), copying only
/// what its write-intent bitmap marked. `None` when nothing waits.
pub fn partner_wait(
    meta: &crate::metadata::ClassMeta,
    vol: &VolumeStatus,
    node: Option<&str>,
) -> Option<String> {
    let node = node?;
    if !vol.live {
        return None;
    }
    let out: Vec<String> = vol
        .slices
        .iter()
        .filter(|s| s.state == crate::layout::SliceState::Invalid)
        .filter_map(|s| {
            let d = meta.disk(&s.disk)?;
            let partner = d.node.as_deref().filter(|n| *n != node)?;
            // Recorded stale (a forced start): no bitmap knows what it missed.
            let stale = meta.departed.iter().any(|x| x.disk == d.name);
            Some(if stale {
                format!(
                    "leg {} on disk {} of {partner} is recorded stale; the next `dmclass \
                     activate {}` here takes it back once {partner}'s disk is reachable \
                     (a full copy)",
                    s.leg, d.name, meta.name
                )
            } else {
                format!(
                    "leg {} on disk {} of {partner} is out (the mirror network or {partner} \
                     is down); it comes back by itself when {partner}'s disk answers again, \
                     copying only what was written meanwhile",
                    s.leg, d.name
                )
            })
        })
        .collect();
    (!out.is_empty()).then(|| out.join("; "))
}

/// One class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassStatus {
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: String,
    /// `root`, `local`, `shared`.
    #[serde(rename = "type")]
    pub class_type: crate::metadata::ClassTypeMeta,
    /// Metadata generation.
    pub generation: u64,
    /// Disks.
    pub disks: Vec<DiskStatus>,
    /// Volumes.
    pub volumes: Vec<VolumeStatus>,
    /// Snapshots ([`crate::cow::state`]).
    pub snapshots: Vec<crate::cow::state::SnapshotEntry>,
    /// Proxy volumes ([`crate::proxy::state`]).
    pub proxies: Vec<crate::proxy::state::ProxyEntry>,
    /// Closed by GDS's rule (too few readable metadata copies, [`crate::closing`]):
    /// the class refuses changes and is not activated.
    pub closed: bool,
    /// Why it is closed (null when open).
    pub closed_reason: Option<String>,
    /// An interrupted apply recorded on disk (null when none); `activate` finishes it.
    pub pending_intent: Option<String>,
    /// A root class whose undo is recorded: the disk it goes back to (absent when
    /// none; the next boot takes the class apart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_pending: Option<String>,
    /// A shared class's leases as this node sees them (absent for other classes;
    /// filled by the shell, which talks to the lock manager).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leases: Option<crate::lease::status::LeaseStatus>,
    /// A root class: the boot environment `/` runs from (absent when `/` is not on
    /// the class; filled by the shell, which reads the mounts; [`crate::bootenv`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_environment: Option<String>,
}

/// The status of a class whose `present` disks were found.
pub fn class_status(
    meta: &ClassMeta,
    present: &[PresentDisk],
    kernel: &dyn Kernel,
) -> Result<ClassStatus> {
    let found = |d: &str| present.iter().find(|p| p.name == d);
    // A stale copy of a disk that left is on the machine but not part of the class:
    // events refuse it and nothing writes it, so it counts as absent here.
    let stale =
        |p: &PresentDisk| crate::metadata::stale_departed(meta, &p.name, p.generation).is_some();
    let here = |d: &str| found(d).filter(|p| !stale(p));
    let disks = meta
        .disks
        .iter()
        .map(|d| DiskStatus {
            name: d.name.clone(),
            path: found(&d.name).map(|p| p.path.display().to_string()),
            state: match (here(&d.name), d.state) {
                (None, _) => DiskState::Disable,
                (Some(_), s) => s,
            },
            size: d.size.0 * 512,
            reason: found(&d.name)
                .and_then(|p| crate::metadata::stale_departed(meta, &p.name, p.generation)),
        })
        .collect();
    let mut volumes = Vec::new();
    for v in &meta.volumes {
        volumes.push(volume(meta, v, &|d| here(d).is_some(), kernel)?);
    }
    let closing = crate::closing::meta_closing(meta, |n| present.iter().any(|p| p.name == n));
    Ok(ClassStatus {
        name: meta.name.clone(),
        uuid: meta.uuid.to_string(),
        class_type: meta.class_type,
        generation: meta.generation,
        disks,
        volumes,
        snapshots: crate::cow::state::snapshots(meta, kernel)?,
        proxies: crate::proxy::state::proxies_status(meta, kernel)?,
        closed: closing.is_some(),
        closed_reason: closing.map(|c| c.to_string()),
        pending_intent: meta.intent.as_ref().map(crate::metadata::Intent::describe),
        undo_pending: meta.undo.as_ref().map(|u| u.keep.clone()),
        leases: None,
        boot_environment: None,
    })
}

/// The status of a class as found on the disks: [`class_status`] with the disks whose
/// label is not trusted shown `DISABLE` at their path, with the reason.
pub fn class_on_disks_status(
    c: &crate::assemble::ClassOnDisks,
    kernel: &dyn Kernel,
) -> Result<ClassStatus> {
    let mut st = class_status(&c.meta, &c.present, kernel)?;
    for d in &c.disabled {
        if let Some(s) = st.disks.iter_mut().find(|s| s.name == d.name) {
            s.path = Some(d.path.display().to_string());
            s.state = DiskState::Disable;
            s.reason = Some(d.reason.clone());
        }
    }
    Ok(st)
}

fn volume(
    meta: &ClassMeta,
    v: &VolumeMeta,
    here: &dyn Fn(&str) -> bool,
    kernel: &dyn Kernel,
) -> Result<VolumeStatus> {
    let whole: Vec<bool> = v
        .layout
        .legs
        .iter()
        .map(|l| l.disks().iter().all(|d| here(d)))
        .collect();
    let mut slices: Vec<SliceStatus> = v
        .layout
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| SliceStatus {
            leg: i,
            disk: l.disks().join("+"),
            // A stopped volume's slice is STOP, unless its disk is missing or it is
            // recorded INVALID (it left the mirror; another node may have recorded it).
            state: if whole[i] && l.state != SliceState::Invalid {
                SliceState::Stop
            } else {
                SliceState::Invalid
            },
            sync_percent: None,
        })
        .collect();
    let top = dm_name(&meta.name, &v.name, Layer::Top)?;
    let live = kernel
        .info(&top)
        .map_err(|e| io_err(format!("device {top}"), e))?
        .is_some_and(|i| i.live_table);
    let mut sync = None;
    if live {
        let st = kernel
            .status(&top)
            .map_err(|e| io_err(format!("status of {top}"), e))?;
        let st = crate::cow::state::origin_status(meta, v, st, kernel)?;
        let line = st.first();
        match line.map(|l| l.target.as_str()) {
            Some("raid") => {
                let r = parse_raid_status(line.map_or("", |l| l.params.as_str()))?;
                let pct = r.percent();
                sync = Some(pct);
                for (s, h) in slices.iter_mut().zip(&r.health) {
                    (s.state, s.sync_percent) = match h {
                        RaidHealth::InSync => (SliceState::Active, None),
                        RaidHealth::Syncing => (SliceState::Copy, Some(pct)),
                        RaidHealth::Dead | RaidHealth::Absent => (SliceState::Invalid, None),
                    };
                }
            }
            Some("mirror") => {
                let m = parse_mirror_status(line.map_or("", |l| l.params.as_str()))?;
                #[allow(clippy::cast_precision_loss)]
                let pct = if m.total == 0 {
                    100.0
                } else {
                    m.in_sync as f64 * 100.0 / m.total as f64
                };
                sync = Some(pct);
                let mut h = m.health.iter();
                for (i, s) in slices.iter_mut().enumerate() {
                    if !whole[i] {
                        continue;
                    }
                    (s.state, s.sync_percent) = match h.next() {
                        Some(MirrorHealth::Alive) if m.in_sync < m.total && i > 0 => {
                            (SliceState::Copy, Some(pct))
                        }
                        Some(MirrorHealth::Alive) => (SliceState::Active, None),
                        _ => (SliceState::Invalid, None),
                    };
                }
            }
            _ => {
                for (i, s) in slices.iter_mut().enumerate() {
                    if whole[i] {
                        s.state = SliceState::Active;
                    }
                }
            }
        }
    }
    let state = if live {
        if slices.iter().any(|s| s.state == SliceState::Active) {
            VolumeState::Active
        } else {
            VolumeState::Invalid
        }
    } else if whole.contains(&true) {
        VolumeState::Stop
    } else {
        VolumeState::Invalid
    };
    Ok(VolumeStatus {
        name: v.name.clone(),
        state,
        path: user_path(&meta.name, &v.name).display().to_string(),
        size: v.size.0 * 512,
        engine: v.engine,
        group: v.on.clone(),
        sync_percent: if v.layout.legs.len() > 1 { sync } else { None },
        copy_rate: v.copy_rate.map(|r| r.0),
        slices,
        start_lock: None,
        partner_wait: None,
        live,
    })
}

fn word<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `sdxinfo`-like text: class, disk, volume and slice tables. Sizes in binary units
/// (`8G`), resync progress in percent; `--json` has exact bytes.
pub fn render(classes: &[ClassStatus]) -> String {
    use crate::columns::{human_size, percent, Columns};
    let mut o = String::new();
    let mut t = Columns::new(&["OBJ", "NAME", "TYPE", "GENERATION"]);
    for c in classes {
        t.row(vec![
            "class".into(),
            c.name.clone(),
            word(&c.class_type),
            c.generation.to_string(),
        ]);
    }
    o.push_str(&t.render());
    for c in classes {
        if let Some(r) = &c.closed_reason {
            let _ = writeln!(o, "class {} is CLOSED: {r}", c.name);
        }
        if let Some(k) = &c.undo_pending {
            let _ = writeln!(
                o,
                "class {}: undo recorded: the next boot takes the class apart and boots from disk {k}'s partitions",
                c.name
            );
        }
        if let Some(e) = c
            .boot_environment
            .as_deref()
            .filter(|e| *e != crate::bootenv::PRIMARY)
        {
            let _ = writeln!(
                o,
                "class {}: the system runs from boot environment {e}, a copy of the class's \
                 volumes (`dmclass bootenv list`)",
                c.name
            );
        }
        for l in c.leases.iter().flat_map(|l| l.lines(&c.name)) {
            let _ = writeln!(o, "{l}");
        }
        if let Some(i) = &c.pending_intent {
            let _ = writeln!(
                o,
                "class {}: interrupted apply pending: {i} (run `dmclass activate {}`)",
                c.name, c.name
            );
        }
    }
    let mut t = Columns::new(&["OBJ", "NAME", "CLASS", "DEVNAM", "SIZE", "STATUS"]);
    for c in classes {
        for d in &c.disks {
            t.row(vec![
                "disk".into(),
                d.name.clone(),
                c.name.clone(),
                d.path.clone().unwrap_or_else(|| "*".into()),
                human_size(d.size),
                word(&d.state),
            ]);
            if let Some(r) = &d.reason {
                t.note(format!("reason: {r}"));
            }
        }
    }
    o.push('\n');
    o.push_str(&t.render());
    let mut t = Columns::new(&[
        "OBJ", "NAME", "CLASS", "GROUP", "ENGINE", "SIZE", "STATUS", "SYNC", "PATH",
    ]);
    for c in classes {
        for v in &c.volumes {
            t.row(vec![
                "volume".into(),
                v.name.clone(),
                c.name.clone(),
                v.group.clone(),
                word(&v.engine),
                human_size(v.size),
                word(&v.state),
                percent(v.sync_percent),
                v.path.clone(),
            ]);
            if let Some(r) = v.copy_rate {
                t.note(format!("copy rate {}/s per disk", dmclass_model::Bytes(r)));
            }
            for why in [&v.start_lock, &v.partner_wait].into_iter().flatten() {
                t.note(why.clone());
            }
        }
    }
    o.push('\n');
    o.push_str(&t.render());
    let mut t = Columns::new(&["OBJ", "CLASS", "GROUP", "DISK", "VOLUME", "STATUS", "SYNC"]);
    for c in classes {
        for v in &c.volumes {
            for s in &v.slices {
                t.row(vec![
                    "slice".into(),
                    c.name.clone(),
                    v.group.clone(),
                    s.disk.clone(),
                    v.name.clone(),
                    word(&s.state),
                    percent(s.sync_percent),
                ]);
            }
        }
    }
    o.push('\n');
    o.push_str(&t.render());
    let snaps: Vec<(&str, &[crate::cow::state::SnapshotEntry])> = classes
        .iter()
        .map(|c| (c.name.as_str(), c.snapshots.as_slice()))
        .collect();
    o.push_str(&crate::cow::state::render(&snaps));
    let proxies: Vec<(&str, &[crate::proxy::state::ProxyEntry])> = classes
        .iter()
        .map(|c| (c.name.as_str(), c.proxies.as_slice()))
        .collect();
    o.push_str(&crate::proxy::state::render(&proxies));
    o
}
