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
//!   the proxy leg's `_rmeta_N`/`_rimage_N` devices go. The master's write-intent
//!   bitmap records every region written from now on. The proxy device
//!   `dmclass-<class>-<proxy>`:
//!   - parted `--readonly`: the leg's image mapped directly (linear, read-only);
//!   - parted read-write (the default): a degraded raid1 ([`tracking_view`]) of the
//!     leg's image with the proxy's own *tracking rmeta* (1 MiB on the leg's disk,
//!     allocated at the first read-write part, zeroed at every one so the kernel writes
//!     a fresh bitmap) and one absent slot, so md's bitmap (chunk = the master's region
//!     size) keeps a bit set for every region written to the proxy. Never the slot's
//!     `_rmeta_N`: it stays untouched so the master's re-add works from its bitmap.
//! * rejoin: the proxy device goes; for a read-write part, the regions its tracking
//!   bitmap marks ([`crate::md_bitmap`]) are copied from the live master onto the
//!   proxy's image (`copy_regions`, exec/copy.rs); the master is loaded with slot N
//!   back without `rebuild`, so the kernel's bitmap-limited recovery copies the regions
//!   the master changed. Both sides' changes, nothing else. A master write racing the
//!   copy is safe: slot N is still absent, so the master's bitmap marks it and the
//!   recovery copies it again. The leg is recorded `COPY` before the copy and `ACTIVE`
//!   after it, so a rejoin stopped in between is finished as a full rebuild. A full
//!   copy (`rebuild N`) only when tracking was lost: no tracking rmeta (parted by a
//!   dmclass without tracking: [`ProxyRef::tracking_lost`]), a bitmap absent, stale or
//!   of another geometry (the copy's output says why and copies every region), or a
//!   master that is not active at the rejoin.
//! * restore (GDS RejoinRestore): the master must not be open; the proxy device goes;
//!   the union of the regions the proxy's tracking bitmap marks (none when parted
//!   `--readonly`) and those the master's own bitmap marks (its first leg's rmeta) is
//!   copied from the proxy's image onto the live master (`copy_regions`, proxy ->
//!   master), the master's legs recorded `COPY` until it is done; then the master is
//!   loaded with slot N back without `rebuild`, and the kernel's bitmap recovery writes
//!   those regions (now the proxy's data on every master leg) to the proxy. A full copy
//!   (`rebuild` on each of the master's own legs, md copying the proxy onto them) when
//!   the proxy's writes were not tracked or the master is not active; the proxy ends
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
    /// The tracking rmeta (a proxy parted read-write runs as a degraded raid1 with it).
    pub track: Option<&'a Extent>,
}

impl ProxyRef<'_> {
    /// What the next rejoin copies: `incremental` or `full copy`.
    pub fn rejoin_mode(&self) -> &'static str {
        if self.tracking_lost().is_some() {
            "full copy"
        } else {
            "incremental"
        }
    }

    /// Parted read-write with a tracking rmeta: its device is the tracking raid1.
    pub fn tracked(&self) -> bool {
        self.state == ProxyStateMeta::Parted && !self.readonly && self.track.is_some()
    }

    /// Why the proxy's own writes are not tracked (the next rejoin is a full copy),
    /// as far as the recorded state tells: a proxy parted read-write without a
    /// tracking rmeta (parted by a dmclass without change tracking). The bitmap
    /// itself is judged when the rejoin copies ([`crate::md_bitmap::tracked_regions`]).
    pub fn tracking_lost(&self) -> Option<&'static str> {
        (self.written && self.track.is_none())
            .then_some("parted read-write without a tracking bitmap")
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
                track,
            } => Some(ProxyRef {
                name: &s.name,
                uuid: s.uuid,
                master: &s.origin,
                on,
                state: *state,
                leg,
                written: *written,
                readonly: *readonly,
                track: track.as_ref(),
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
            SnapshotKindMeta::Proxy { leg, track, .. } => {
                let mut v: Vec<&Extent> = leg.iter().flat_map(|l| l.extents()).collect();
                v.extend(track);
                Some(v)
            }
            SnapshotKindMeta::Cow { .. } => None,
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

/// Whether master `vol` is being restored from its proxy (a restore recorded, its
/// copy not finished): the proxy joined with its leg `ACTIVE` and all its disks
/// `present`, every own leg of the master `COPY`. Activation then rebuilds the
/// master's legs from the proxy's (a full copy) instead of judging the master's own
/// superblocks, which describe the data the restore replaces.
pub(crate) fn restoring_from_proxy(
    meta: &ClassMeta,
    vol: &VolumeMeta,
    present: &dyn Fn(&str) -> bool,
) -> bool {
    proxy_of(meta, &vol.name).is_some_and(|p| {
        p.state == ProxyStateMeta::Joined
            && p.leg.state == crate::layout::SliceState::Active
            && p.leg.disks().into_iter().all(present)
            && !vol.layout.legs.is_empty()
            && vol
                .layout
                .legs
                .iter()
                .all(|l| l.state == crate::layout::SliceState::Copy)
    })
}

/// The device of a parted proxy: its leg's image mapped directly (read-only when
/// parted with `--readonly`).
pub fn proxy_device(class: &str, class_uuid: Uuid, p: &ProxyRef) -> Result<DeviceSpec> {
    Ok(DeviceSpec {
        name: dm_name(class, p.name, Layer::Top)?,
        uuid: dm_uuid(class_uuid, p.uuid, Layer::Top),
        table: segment_lines(&p.leg.segments),
        hidden: false,
        copy: true,
        read_only: p.readonly,
        children: Vec::new(),
        role: DeviceRole::Top,
    })
}

/// The tracking raid1 of a proxy parted read-write, as a one-leg volume named after
/// the proxy: leg 0 is the tracking rmeta with the proxy's image, slot 1 is absent
/// (`- -`), so the array is degraded and md keeps a bit set for every region
/// written (`nosync`: a single present leg has nothing to sync). The region size is
/// the master's, so the bitmap's chunks are the master's regions. Never the slot's
/// `_rmeta_N`: a standalone array would raise its event count above the master's,
/// and the master's re-add could then take the proxy for the freshest copy.
pub fn tracking_view(meta: &ClassMeta, p: &ProxyRef) -> Option<(VolumeMeta, Activation)> {
    let track = p.track.filter(|_| p.tracked())?;
    let master = meta.volume(p.master)?;
    let leg = crate::layout::Leg {
        rmeta: Some(track.clone()),
        segments: p.leg.segments.clone(),
        state: crate::layout::SliceState::Active,
    };
    let v = VolumeMeta {
        name: p.name.to_owned(),
        uuid: p.uuid,
        on: p.on.to_owned(),
        size: master.size,
        engine: crate::metadata::EngineMeta::Raid1,
        jrm: master.jrm,
        mode: crate::metadata::ModeMeta::Rw,
        autostart: true,
        region: master.region,
        layout: crate::layout::VolumeLayout {
            legs: vec![leg.clone(), leg],
            log: None,
        },
        copy_rate: None,
        partition: None,
    };
    // No `nosync`: the table the probe of dm-raid 1.15.1 saw load degraded over an
    // rmeta that has a superblock (tests/vm/tests/scenarios/proxy.rs loads it at every later
    // activation); one present leg has nothing to resync anyway.
    let act = Activation {
        nosync: false,
        rebuild: Vec::new(),
        missing: vec![1],
        write_mostly: Vec::new(),
    };
    Some((v, act))
}

/// The first load of a tracking raid1 whose rmeta is blank (just zeroed at a part):
/// dm-raid refuses a blank present leg beside an absent slot ("New device injected
/// into existing raid set without delta_disks or rebuild parameter specified"), so
/// slot 1 is first a pair of `zero` devices (`_rmeta_1`, `_rimage_1`) and the set is
/// new (`nosync`: slot 0's data is kept). Resuming it writes a fresh superblock and
/// bitmap into the tracking rmeta (the zero devices swallow their copy); the degraded
/// table of [`tracking_view`] is then loaded over it and the zero devices removed
/// ([`format_names`]). Nothing reads through the device in between except udev's
/// probe, which may see zeros from slot 1 and probes again at the reload. Empty when
/// the proxy is not tracked.
pub fn tracking_format_devices(meta: &ClassMeta, p: &ProxyRef) -> Result<Vec<DeviceSpec>> {
    let Some((v, _)) = tracking_view(meta, p) else {
        return Ok(Vec::new());
    };
    let act = Activation {
        nosync: true,
        rebuild: Vec::new(),
        missing: Vec::new(),
        write_mostly: Vec::new(),
    };
    let zeros = format_names(&meta.name, p)?;
    let mut specs = copies(crate::tables::volume_devices(
        &meta.name, meta.uuid, &v, &act,
    )?);
    for s in specs.iter_mut().filter(|s| zeros.contains(&s.name)) {
        let len = s.len();
        s.table = vec![crate::tables::TableLine {
            start: dmclass_model::Sectors(0),
            len,
            target: crate::dm::Target::Zero,
        }];
    }
    Ok(specs)
}

/// dm names of the `zero` devices in slot 1 of a tracking raid1's first load
/// ([`tracking_format_devices`]), removed once the degraded table is live.
pub fn format_names(class: &str, p: &ProxyRef) -> Result<Vec<String>> {
    Ok(vec![
        dm_name(class, p.name, Layer::Rmeta(1))?,
        dm_name(class, p.name, Layer::Rimage(1))?,
    ])
}

/// Every device of a parted proxy, children first: the tracking raid1 stack when
/// parted read-write with a tracking rmeta, else its image mapped directly.
pub fn proxy_devices(meta: &ClassMeta, p: &ProxyRef) -> Result<Vec<DeviceSpec>> {
    match tracking_view(meta, p) {
        Some((v, act)) => Ok(copies(crate::tables::volume_devices(
            &meta.name, meta.uuid, &v, &act,
        )?)),
        None => Ok(vec![proxy_device(&meta.name, meta.uuid, p)?]),
    }
}

/// A proxy's stack with its top device marked a copy of the master's data.
fn copies(mut specs: Vec<DeviceSpec>) -> Vec<DeviceSpec> {
    for s in specs.iter_mut().filter(|s| !s.hidden) {
        s.copy = true;
    }
    specs
}

/// dm names of a parted proxy's devices, top first (the order of removal).
pub fn device_names(class: &str, p: &ProxyRef) -> Result<Vec<String>> {
    let mut out = vec![dm_name(class, p.name, Layer::Top)?];
    if p.tracked() {
        out.push(dm_name(class, p.name, Layer::Rmeta(0))?);
        out.push(dm_name(class, p.name, Layer::Rimage(0))?);
        // left by a first load stopped before their removal (removed only if live)
        out.extend(format_names(class, p)?);
    }
    Ok(out)
}

/// Devices of the parted proxies of `master` whose disks are `present` (activation
/// hook): the specs to bring up in order, then the dm names to remove. A tracking
/// raid1 whose rmeta is `blank` (no dm-raid superblock: a part stopped between the
/// zeroing and the first load) gets the two-step first load
/// ([`tracking_format_devices`], then the degraded table, then the zero devices go);
/// with a superblock the degraded table loads as it is.
pub(crate) fn parted_devices(
    meta: &ClassMeta,
    master: &str,
    present: &dyn Fn(&str) -> bool,
    blank: &dyn Fn(&Extent) -> bool,
) -> Result<(Vec<DeviceSpec>, Vec<String>)> {
    let (mut out, mut gone) = (Vec::new(), Vec::new());
    for p in proxies(meta)
        .iter()
        .filter(|p| p.master == master && p.state == ProxyStateMeta::Parted)
        .filter(|p| {
            p.leg
                .disks()
                .into_iter()
                .chain(p.track.map(|t| t.disk.as_str()))
                .all(present)
        })
    {
        if p.tracked() && p.track.is_some_and(blank) {
            out.extend(tracking_format_devices(meta, p)?);
            gone.extend(format_names(&meta.name, p)?);
        }
        out.extend(proxy_devices(meta, p)?);
    }
    Ok((out, gone))
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
