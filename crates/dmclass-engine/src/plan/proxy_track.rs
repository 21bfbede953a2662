//! Change tracking of proxies parted read-write, in the planner (mechanism in
//! [`crate::proxy`]): the tracking rmeta allocated at a part and zeroed, the tracking
//! raid1's two-step first load (dm-raid refuses a blank leg beside an absent slot),
//! and the copy of the regions the proxy changed at an incremental rejoin.

use super::spec_ref::SpecRef;
use super::steps::create_steps;
use super::{Action, ActionKind, Actual, Step, Text};
use super::{CopyEnd, CopyTracked};
use crate::alloc::Allocator;
use crate::error::{refuse, Result};
use crate::layout::{Extent, SliceState};
use crate::metadata::ProxyStateMeta;
use crate::metadata::{ClassMeta, SnapshotKindMeta, SnapshotMeta};
use crate::names::{dm_name, Layer};
use crate::proxy::{find, proxy_devices, proxy_of, ProxyRef};
use dmclass_model::Bytes;
use std::rc::Rc;

pub(super) fn leg_mut(s: &mut SnapshotMeta) -> Option<&mut crate::layout::Leg> {
    match &mut s.kind {
        SnapshotKindMeta::Proxy { leg, .. } => leg.as_mut(),
        SnapshotKindMeta::Cow { .. } => None,
    }
}

pub(super) fn leg_of(s: &SnapshotMeta) -> Option<&crate::layout::Leg> {
    match &s.kind {
        SnapshotKindMeta::Proxy { leg, .. } => leg.as_ref(),
        SnapshotKindMeta::Cow { .. } => None,
    }
}

/// The devices of a proxy parted read-write now, its tracking rmeta just zeroed: the
/// first load with `zero` devices in slot 1 (a new set: dm-raid writes a fresh
/// superblock and bitmap), then the degraded table loaded over it (suspend, resume,
/// verify) and the zero devices removed ([`crate::proxy::tracking_format_devices`]).
/// A part stopped in between is finished by `activate`, which loads the same two
/// steps while the rmeta has no superblock and the degraded table once it has.
pub(super) fn format_steps(meta: &ClassMeta, p: &ProxyRef, out: &mut Vec<Action>) -> Result<()> {
    let first = crate::proxy::tracking_format_devices(meta, p)?;
    for spec in &first {
        create_steps(spec, out);
    }
    let degraded = proxy_devices(meta, p)?;
    let Some(top) = degraded.last() else {
        return Ok(());
    };
    let spec = SpecRef::Built(Rc::new(top.clone()));
    out.push(Action::new(
        ActionKind::Load,
        Text::name(&spec),
        Text::fixed(&"slot 1 absent: degraded, tracking writes in its bitmap"),
        Step::Load { spec: spec.clone() },
    ));
    out.push(Action::new(
        ActionKind::Suspend,
        Text::name(&spec),
        Text::fixed(&"flush and hold I/O"),
        Step::Suspend {
            name: top.name.clone(),
        },
    ));
    out.push(Action::new(
        ActionKind::Resume,
        Text::name(&spec),
        Text::fixed(&"make the new table live"),
        Step::Resume { spec: spec.clone() },
    ));
    out.push(Action::new(
        ActionKind::Verify,
        Text::name(&spec),
        Text::fixed(&"read the table back"),
        Step::Verify { spec },
    ));
    for name in crate::proxy::format_names(&meta.name, p)?.into_iter().rev() {
        out.push(Action::new(
            ActionKind::Remove,
            name.clone(),
            Text::fixed(&"zero device of the first load no longer used"),
            Step::Remove { name },
        ));
    }
    Ok(())
}

pub(super) fn track_of(s: &SnapshotMeta) -> Option<&Extent> {
    match &s.kind {
        SnapshotKindMeta::Proxy { track, .. } => track.as_ref(),
        SnapshotKindMeta::Cow { .. } => None,
    }
}

/// Part read-write: the proxy needs a tracking rmeta; one is allocated on its leg's
/// first disk when none is recorded yet (proxies made before tracking existed).
pub(super) fn ensure_track(class: &str, meta: &mut ClassMeta, i: usize) -> Result<()> {
    let Some(s) = meta.snapshots.get(i) else {
        return Ok(());
    };
    if track_of(s).is_some() {
        return Ok(());
    }
    let name = s.name.clone();
    let Some(disk) = leg_of(s).and_then(|l| l.disks().first().map(|d| (*d).to_owned())) else {
        return Ok(());
    };
    let mut alloc = Allocator::for_class(meta)?;
    let Some(e) = alloc.meta_extent(&disk) else {
        return refuse(
            class,
            &format!("proxy {name}"),
            format!("no room for its 1 MiB change-tracking area on disk {disk} (part it --readonly, or free space)"),
        );
    };
    if let Some(SnapshotKindMeta::Proxy { track, .. }) =
        meta.snapshots.get_mut(i).map(|s| &mut s.kind)
    {
        *track = Some(e);
    }
    Ok(())
}

/// After the metadata write (it records the intent, so a part stopped at any action
/// is finished by `activate`), before any device: zero the tracking rmeta of proxies
/// parted read-write now, so the kernel writes a fresh superblock and bitmap that
/// records only what is written from this part on. (A part stopped before the zero
/// activates over the previous part's bitmap: more bits, never fewer.)
pub(super) fn zero_tracks(old: &ClassMeta, meta: &ClassMeta, out: &mut Vec<Action>) {
    for p in crate::proxy::proxies(meta)
        .into_iter()
        .filter(ProxyRef::tracked)
    {
        if find(old, p.name).is_some_and(|o| o.tracked()) {
            continue;
        }
        let Some(e) = p.track else { continue };
        out.push(Action {
            kind: ActionKind::ZeroExtent,
            object: e.disk.clone().into(),
            detail: format!(
                "proxy {} tracking rmeta: {} bytes at byte {}",
                p.name,
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

/// A parted proxy rejoined to, or restored onto, its live master, incrementally: the
/// copy of the changed regions and the write recording the copied-to legs `ACTIVE`
/// (so the master is loaded without `rebuild` and the kernel's bitmap recovery does
/// the rest), pushed to `staged`; the description after that write. `None` when the
/// change of `master`'s proxy is not such a rejoin or restore (then a full copy).
///
/// * rejoin of a proxy parted read-write with tracking: the regions its tracking
///   bitmap marks, live master -> proxy image; the kernel copies the master's.
/// * restore (the master's legs recorded `COPY`): the union of the proxy's tracking
///   bitmap (none when it was parted read-only) and the master's own bitmap (read
///   from its first leg's rmeta: md sets a bit on disk before the write it covers and
///   clears none while slot N is absent), proxy image -> live master.
///
/// The legs copied to stay `COPY` until the copy is done, so a copy stopped anywhere
/// is finished by `activate` as a full `rebuild` from the side that is whole.
pub(super) fn incremental_copy(
    old: &ClassMeta,
    meta: &ClassMeta,
    master: &str,
    actual: &Actual,
    staged: &mut Vec<Action>,
) -> Result<Option<ClassMeta>> {
    let top = dm_name(&meta.name, master, Layer::Top)?;
    if !actual.live.iter().any(|i| i.name == top && i.live_table) {
        return Ok(None);
    }
    let Some(p) = proxy_of(old, master).filter(|p| p.state == ProxyStateMeta::Parted) else {
        return Ok(None);
    };
    let Some(n) = proxy_of(meta, master).filter(|n| n.state == ProxyStateMeta::Joined) else {
        return Ok(None);
    };
    let Some(v) = meta.volume(master) else {
        return Ok(None);
    };
    let restoring = v.layout.legs.iter().any(|l| l.state == SliceState::Copy);
    let track = p.track.filter(|_| p.tracked());
    let (bitmaps, from, to, way) = if restoring {
        let Some(master_bitmap) = v.layout.legs.first().and_then(|l| l.rmeta.clone()) else {
            return Ok(None);
        };
        if track.is_none() && !p.readonly {
            return Ok(None); // the proxy's writes were not tracked: full copy
        }
        let mut b: Vec<Extent> = track.into_iter().cloned().collect();
        b.push(master_bitmap);
        let from = CopyEnd::Image(p.leg.segments.clone());
        (b, from, CopyEnd::Dm(top), "proxy -> master")
    } else {
        let Some(track) = track else {
            return Ok(None); // parted read-only: the kernel's recovery is all there is
        };
        let to = CopyEnd::Image(p.leg.segments.clone());
        (vec![track.clone()], CopyEnd::Dm(top), to, "master -> proxy")
    };
    let what = bitmaps
        .iter()
        .map(|e| format!("disk {} at byte {}", e.disk, e.offset.0 * 512 + 4096))
        .collect::<Vec<_>>()
        .join(" and ");
    staged.push(Action::new(
        ActionKind::CopyRegions,
        format!("proxy {}", p.name),
        format!("regions changed while parted (bitmaps on {what}), {way}"),
        Step::CopyTracked(Box::new(CopyTracked {
            bitmaps,
            from,
            to,
            way,
            sectors: p.leg.len(),
            region: v.region,
        })),
    ));
    let mut next = meta.clone();
    if restoring {
        if let Some(nv) = next.volumes.iter_mut().find(|x| x.name == master) {
            for l in &mut nv.layout.legs {
                l.state = SliceState::Active;
            }
        }
    } else if let Some(l) = next
        .snapshots
        .iter_mut()
        .find(|s| s.name == n.name)
        .and_then(leg_mut)
    {
        l.state = SliceState::Active;
    }
    next.generation += 1;
    staged.push(Action::write_meta_all(
        &next,
        &format!(
            "proxy {}: the regions changed on either side are copied ({way}); the kernel's bitmap recovery brings slot N up to date",
            n.name
        ),
    ));
    Ok(Some(next))
}
