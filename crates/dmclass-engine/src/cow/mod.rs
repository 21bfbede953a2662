//! Copy-on-write snapshots in the class description: views over
//! [`SnapshotKindMeta::Cow`] entries, the space their stores occupy, and the
//! [`SnapDev`]s the table generator stacks over an origin.

pub(crate) mod activate;
pub mod state;
pub mod status;
pub mod tables;

use self::tables::SnapDev;
use crate::layout::Extent;
use crate::metadata::{ClassMeta, CowState, SnapshotKindMeta, SnapshotMeta, VolumeMeta};
use crate::tables::Activation;
use dmclass_model::Sectors;
use uuid::Uuid;

/// A copy-on-write snapshot as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CowView<'a> {
    /// Snapshot name.
    pub name: &'a str,
    /// Snapshot UUID.
    pub uuid: Uuid,
    /// Origin volume.
    pub origin: &'a str,
    /// Store size.
    pub size: Sectors,
    /// Chunk size.
    pub chunk: Sectors,
    /// The store (absent only in metadata written before stores were recorded).
    pub store: Option<&'a VolumeMeta>,
    /// Recorded state.
    pub state: CowState,
}

/// The cow view of a snapshot, `None` for other kinds.
pub fn view(s: &SnapshotMeta) -> Option<CowView<'_>> {
    match &s.kind {
        SnapshotKindMeta::Cow {
            size,
            chunk,
            store,
            state,
        } => Some(CowView {
            name: &s.name,
            uuid: s.uuid,
            origin: &s.origin,
            size: *size,
            chunk: *chunk,
            store: store.as_deref(),
            state: *state,
        }),
        SnapshotKindMeta::Proxy { .. } => None,
    }
}

/// Every cow snapshot of the class, in recorded order.
pub fn cow_snapshots(meta: &ClassMeta) -> Vec<CowView<'_>> {
    meta.snapshots.iter().filter_map(view).collect()
}

/// The cow snapshots of one origin volume.
pub fn snapshots_of<'a>(meta: &'a ClassMeta, origin: &str) -> Vec<CowView<'a>> {
    cow_snapshots(meta)
        .into_iter()
        .filter(|c| c.origin == origin)
        .collect()
}

/// The cow snapshot called `name`.
pub fn find<'a>(meta: &'a ClassMeta, name: &str) -> Option<CowView<'a>> {
    cow_snapshots(meta).into_iter().find(|c| c.name == name)
}

/// Extents held by cow stores (the allocator must not hand them out again).
pub fn store_extents(meta: &ClassMeta) -> Vec<&Extent> {
    meta.snapshots
        .iter()
        .filter_map(|s| match &s.kind {
            SnapshotKindMeta::Cow {
                store: Some(st), ..
            } => Some(st.layout.extents()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Set the recorded state of snapshot `name` (no-op for other kinds).
pub fn set_state(meta: &mut ClassMeta, name: &str, new: CowState) {
    for s in &mut meta.snapshots {
        if s.name == name {
            if let SnapshotKindMeta::Cow { state, .. } = &mut s.kind {
                *state = new;
            }
        }
    }
}

/// Whether no leg of the snapshot's store has all its disks present: the snapshot
/// cannot be stacked (its store is on a disk that is missing).
pub fn store_lost(c: &CowView<'_>, is_present: &dyn Fn(&str) -> bool) -> bool {
    c.store
        .is_some_and(|s| s.layout.legs_missing(is_present).len() == s.layout.legs.len())
}

/// How the stack of an origin is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// A snapshot recorded `merging` is loaded as `snapshot-merge` (activation with
    /// the origin closed, or the merge step itself).
    Start,
    /// Merging snapshots keep their snapshot device (the merge waits for the next
    /// activation because the origin is open).
    Defer,
}

/// The snapshots stacked over `origin`: active and merging ones (invalid snapshots
/// keep their devices too, so status can show them). `store_act` says how each
/// store's legs start.
pub fn snap_devs(
    meta: &ClassMeta,
    origin: &str,
    mode: MergeMode,
    store_act: &dyn Fn(&VolumeMeta) -> (VolumeMeta, Activation),
) -> Vec<SnapDev> {
    let mut merging_taken = false;
    snapshots_of(meta, origin)
        .into_iter()
        .filter_map(|c| {
            let (store, act) = store_act(c.store?);
            let merging = c.state == CowState::Merging && mode == MergeMode::Start && {
                let first = !merging_taken;
                merging_taken = true;
                first
            };
            Some(SnapDev {
                name: c.name.to_owned(),
                uuid: c.uuid,
                chunk: c.chunk,
                store,
                store_act: act,
                merging,
            })
        })
        .collect()
}

/// The default store start: every leg, rebuilt legs as the volume's own.
pub fn plain_store(store: &VolumeMeta) -> (VolumeMeta, Activation) {
    let rebuild = store
        .layout
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.state == crate::layout::SliceState::Copy)
        .map(|(i, _)| i)
        .collect();
    (
        store.clone(),
        Activation {
            rebuild,
            ..Activation::default()
        },
    )
}
