//! What a plan changes: the list of [`Change`]s the diff finds, which the action
//! ordering (plan/order.rs), copy-on-write snapshots and proxies act on.

use crate::metadata::{ClassMeta, VolumeMeta};

/// One change the plan makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    NewDisk(String),
    NewVolume(String),
    Grow(String),
    AddLeg(String),
    RemoveVolume(Box<VolumeMeta>),
    /// A copy-on-write snapshot to create (plan/cow.rs).
    NewCow(String),
    /// A copy-on-write snapshot to remove (plan/cow.rs).
    RemoveCow(Box<crate::metadata::SnapshotMeta>),
    /// A volume's `copy_rate` changed: its raid1 table is reloaded when live.
    CopyRate(String),
}

/// Result of the comparison.
#[derive(Debug, Clone)]
pub(crate) struct Diff {
    /// The new class description (generation bumped when anything changed).
    pub(crate) meta: ClassMeta,
    pub(crate) changes: Vec<Change>,
    pub(crate) notes: Vec<String>,
}
