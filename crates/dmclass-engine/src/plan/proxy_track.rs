//! Change tracking of proxies parted read-write, in the planner (mechanism in
//! [`crate::proxy`]): the tracking rmeta allocated at a part and zeroed, the tracking
//! raid1's two-step first load (dm-raid refuses a blank leg beside an absent slot),
//! and the copy of the regions the proxy changed at an incremental rejoin.

use super::proxy::{leg_mut, leg_of};
use super::spec_ref::SpecRef;
use super::steps::create_steps;
use super::CopyTracked;
use super::{Action, ActionKind, Actual, Step, Text};
use crate::alloc::Allocator;
use crate::error::{refuse, Result};
use crate::layout::{Extent, SliceState};
use crate::metadata::ProxyStateMeta;
use crate::metadata::{ClassMeta, SnapshotKindMeta, SnapshotMeta};
use crate::names::{dm_name, Layer};
use crate::proxy::{find, proxy_devices, proxy_of, ProxyRef};
use dmclass_model::{Bytes, Sectors};
use std::rc::Rc;

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

/// A proxy parted read-write with tracking, rejoined to its live master: the copy of
/// its changed regions and the write recording its leg `ACTIVE` (so the master is
/// loaded without `rebuild`), pushed to `staged`; the description after that write.
/// `None` when the rejoin of `master`'s proxy is not such a rejoin.
pub(super) fn incremental_rejoin(
    old: &ClassMeta,
    meta: &ClassMeta,
    master: &str,
    actual: &Actual,
    staged: &mut Vec<Action>,
) -> Result<Option<ClassMeta>> {
    let top = dm_name(&meta.name, master, Layer::Top)?;
    if !actual.live.iter().any(|i| i.name == top) {
        return Ok(None);
    }
    let Some(p) = proxy_of(old, master).filter(ProxyRef::tracked) else {
        return Ok(None);
    };
    let Some(track) = p.track else {
        return Ok(None);
    };
    let Some(n) = proxy_of(meta, master).filter(|n| n.state == ProxyStateMeta::Joined) else {
        return Ok(None);
    };
    let restoring = meta
        .volume(master)
        .is_some_and(|v| v.layout.legs.iter().any(|l| l.state == SliceState::Copy));
    if restoring {
        return Ok(None);
    }
    staged.push(copy_action(meta, master, &n, track)?);
    let mut next = meta.clone();
    if let Some(l) = next
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
            "proxy {}: its changed regions are copied; the kernel copies the master's",
            n.name
        ),
    ));
    Ok(Some(next))
}

/// The copy of the regions a proxy parted read-write changed, from master `master`'s
/// top device onto the proxy's image.
fn copy_action(meta: &ClassMeta, master: &str, p: &ProxyRef, track: &Extent) -> Result<Action> {
    let source = dm_name(&meta.name, master, Layer::Top)?;
    let region = meta.volume(master).map_or(Sectors(0), |v| v.region);
    Ok(Action::new(
        ActionKind::CopyRegions,
        format!("proxy {}", p.name),
        format!(
            "regions the proxy changed while parted (its tracking bitmap on disk {} at byte {}), read from {source}",
            track.disk,
            track.offset.0 * 512
        ),
        Step::CopyTracked(Box::new(CopyTracked {
            track: track.clone(),
            source,
            image: p.leg.segments.clone(),
            sectors: p.leg.len(),
            region,
        })),
    ))
}
