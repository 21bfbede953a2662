//! The planner: desired class (YAML) + actual state (on-disk metadata, live dm
//! devices) → an ordered list of actions (docs/architecture.md).
//!
//! Supported changes: create a class, add disks and groups, add a volume, grow a
//! volume, add a leg to a mirror group (every raid1 volume on it gets the leg), change
//! a volume's `copy_rate`, remove a volume (only with
//! [`PlanOptions::allow_destroy`]), remove an empty group; create and remove
//! copy-on-write snapshots and merge one back (plan/cow.rs, plan/cow_merge.rs); join,
//! part, rejoin, restore and remove proxies (plan/proxy.rs, [`plan_proxy`]). Anything
//! else is refused with [`EngineError::Refused`] naming the object and the reason.
//!
//! Ordering rules:
//! * new member disks get a fresh private area ([`ActionKind::FormatArea`]), existing
//!   members the new generation ([`ActionKind::WriteMetadata`]) — both *before* any
//!   kernel change that creates or grows something, so a crash leaves the new volume
//!   recorded;
//! * metadata devices (raid1 `rmeta`, dm-mirror log) are zeroed before first use;
//! * devices are created children first (create, load, resume, verify); a changed
//!   stack is loaded bottom-up, suspended top-down, resumed bottom-up, verified;
//! * removals take the top device first, and the metadata is written *after* the kernel
//!   devices are gone;
//! * a raid1 leg added to a live volume is rebuilt (`rebuild N`), then a final
//!   metadata write marks it `ACTIVE` (LVM clears its rebuild flag the same way).
//!
//! A plan is deterministic for a given [`PlanOptions::id_seed`] (UUIDs for new
//! objects), so its JSON can be golden-tested.

mod bind;
mod change;
mod cow;
mod cow_merge;
mod current;
mod devices;
mod diff;
mod intent;
pub(crate) mod lease_area;
mod order;
mod proxy;
mod proxy_track;
mod render;
mod root;
mod spec_ref;
mod steps;
mod text;
mod unbuilt;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
#[path = "tests_rate.rs"]
mod tests_rate;

pub use crate::metadata::AreaState;
pub use bind::{bind_disks, read_actual};
pub use cow_merge::{merge_done, plan_finish, plan_merge, plan_merge_cancel};
pub use proxy::{plan_proxy, ProxyOp};
pub(crate) use spec_ref::SpecRef;
pub use text::Text;
pub use unbuilt::{check_built, unbuilt, Unbuilt};

use crate::error::Result;
use crate::io::{DevNum, DmInfo};
use crate::metadata::{ClassMeta, DiskIdentity};
use dmclass_model::{Bytes, Class};
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::BuildHasherDefault;
use std::path::PathBuf;
use std::rc::Rc;
use uuid::Uuid;

#[allow(unused_imports)] // doc links
use crate::error::EngineError;

/// A configured disk found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskBinding {
    /// Disk name in the class.
    pub name: String,
    /// Device node to read and write.
    pub path: PathBuf,
    /// Device number, when known (only used to render tables in plans; the executor
    /// asks [`crate::io::Disks::devnum`]).
    pub devnum: Option<DevNum>,
    /// Size of the disk.
    pub size: Bytes,
    /// How the disk is recognised again (recorded in the metadata).
    pub identity: DiskIdentity,
    /// Logical sector size, when known (`LOGICAL_BLOCK_SIZE` in the facts).
    pub sector_size: Option<u32>,
}

/// What is on the machine now for one class.
#[derive(Debug, Clone, Default)]
pub struct Actual {
    /// Private area of every bound disk, by disk name.
    pub areas: BTreeMap<String, AreaState>,
    /// Live dm devices owned by dmclass (UUID starting `DMCLASS-`).
    pub live: Vec<DmInfo>,
    /// Partition table of every bound disk, by disk name (`Err`: damaged or
    /// unreadable), for root classes.
    pub tables: BTreeMap<String, std::result::Result<crate::gpt::GptOnDisk, String>>,
    /// This machine's node name (its host name up to the first dot), when known: a
    /// netmirror volume reads from this node's own leg ([`crate::netmirror::remote_legs`]).
    pub node: Option<String>,
}

/// Planner options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Allow removing volumes (`--allow-destroy`).
    pub allow_destroy: bool,
    /// Seed for the UUIDs of new objects; `None` draws random v4 UUIDs.
    pub id_seed: Option<u64>,
}

/// A map keyed by names from the file or the metadata (small keys, looked up once or
/// twice per volume): FNV-1a instead of SipHash, whose set-up dominated these
/// lookups in a plan of many volumes. The keys are the admin's own names.
pub(crate) type NameMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;

/// An empty [`NameMap`] with room for `n` entries.
pub(crate) fn name_map<K, V>(n: usize) -> NameMap<K, V> {
    NameMap::with_capacity_and_hasher(n, BuildHasherDefault::default())
}

/// The 64-bit FNV-1a hash.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Source of UUIDs for new objects.
pub(crate) struct Ids {
    seed: Option<u64>,
    n: u64,
}

impl Ids {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Ids { seed, n: 0 }
    }

    /// The next UUID (version 4 shaped also when seeded).
    pub(crate) fn next(&mut self) -> Uuid {
        self.n += 1;
        match self.seed {
            None => Uuid::new_v4(),
            Some(s) => {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&s.to_be_bytes());
                b[8..].copy_from_slice(&self.n.to_be_bytes());
                uuid::Builder::from_random_bytes(b).into_uuid()
            }
        }
    }
}

/// Kind of an action (stable JSON spelling, snake case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Write a fresh private area on a new member disk.
    FormatArea,
    /// Zero a metadata extent (raid1 rmeta, dm-mirror log) before first use.
    ZeroExtent,
    /// Write the new class generation to every existing member.
    WriteMetadata,
    /// Create an empty dm device.
    Create,
    /// Load a table into a device's inactive slot.
    Load,
    /// Suspend a device (parents before children).
    Suspend,
    /// Resume a device (children before parents), making a loaded table live.
    Resume,
    /// Read the live table back and compare it with what was loaded.
    Verify,
    /// Remove a dm device (top first).
    Remove,
    /// Write a GUID partition table (root class conversion).
    WritePartitionTable,
    /// Copy the keep disk's EFI system partition to another disk (root class).
    CopyEsp,
    /// Copy the regions a proxy's tracking bitmap marks from the master onto the
    /// proxy's image (an incremental rejoin of a proxy parted read-write).
    CopyRegions,
}

impl ActionKind {
    /// The JSON spelling (`zero_extent`, `create`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::FormatArea => "format_area",
            ActionKind::ZeroExtent => "zero_extent",
            ActionKind::WriteMetadata => "write_metadata",
            ActionKind::Create => "create",
            ActionKind::Load => "load",
            ActionKind::Suspend => "suspend",
            ActionKind::Resume => "resume",
            ActionKind::Verify => "verify",
            ActionKind::Remove => "remove",
            ActionKind::WritePartitionTable => "write_partition_table",
            ActionKind::CopyEsp => "copy_esp",
            ActionKind::CopyRegions => "copy_regions",
        }
    }
}

/// What the executor does for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Format {
        disk: String,
    },
    Zero {
        /// Shared by every extent zeroed on the disk.
        disk: Rc<String>,
        offset: Bytes,
        len: Bytes,
    },
    /// Shared: several actions (and clones of the plan) hold the same snapshot.
    WriteMeta {
        meta: Rc<ClassMeta>,
    },
    /// Write `meta` as generation `generation`: the last write of a plan whose new
    /// volumes' devices are built from the same copy (plan/spec_ref.rs).
    WriteShared {
        meta: Rc<ClassMeta>,
        generation: u64,
    },
    /// The spec the create, load, resume and verify share (its name and UUID).
    Create {
        spec: SpecRef,
    },
    Load {
        spec: SpecRef,
    },
    Suspend {
        name: String,
    },
    Resume {
        spec: SpecRef,
    },
    Verify {
        spec: SpecRef,
    },
    Remove {
        name: String,
    },
    /// Write an encoded partition table (boxed: rare, and plans hold many steps).
    WriteTable(Box<TableWrite>),
    /// Copy an ESP to another disk with a new FAT serial (boxed likewise).
    CopyEsp(Box<EspCopy>),
    /// Copy the regions marked in the bitmaps of the rmeta extents `bitmaps` (their
    /// union) from `from` to `to`: a rejoin copies the proxy's changed regions from
    /// the live master onto the proxy's image, a restore both sides' changed regions
    /// from the proxy's image onto the live master. Every region when a bitmap cannot
    /// be trusted (the outcome says why). Idempotent: the bitmaps stay on disk (the
    /// master's is not cleared while slot N is absent; the proxy's until the next
    /// read-write part zeroes it), and the same regions are copied again.
    CopyTracked(Box<CopyTracked>),
}

/// One end of a [`Step::CopyTracked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyEnd {
    /// A dm device by name (the master's top device).
    Dm(String),
    /// A leg's segments on the disks (the proxy's image, its device gone).
    Image(Vec<crate::layout::Segment>),
}

/// What [`Step::CopyTracked`] copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyTracked {
    /// The rmeta extents whose write-intent bitmaps say what changed: the proxy's
    /// tracking rmeta, and for a restore a master leg's rmeta.
    pub(crate) bitmaps: Vec<crate::layout::Extent>,
    /// Where the data is read.
    pub(crate) from: CopyEnd,
    /// Where it is written.
    pub(crate) to: CopyEnd,
    /// Which way, for the outcome line (`master -> proxy`).
    pub(crate) way: &'static str,
    /// Data sectors of the volume.
    pub(crate) sectors: dmclass_model::Sectors,
    /// Sectors per bitmap bit (the master's region size).
    pub(crate) region: dmclass_model::Sectors,
}

/// [`Step::WriteTable`]: `end` is written first (the backup, ending at the disk's
/// end), then `start` from byte `start_at` (the keep disk's own protective MBR,
/// sector 0, is left as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableWrite {
    pub(crate) disk: String,
    pub(crate) start: Vec<u8>,
    pub(crate) start_at: Bytes,
    pub(crate) end: Vec<u8>,
    pub(crate) end_at: Bytes,
}

/// [`Step::CopyEsp`]: copy `len` bytes at `offset` from disk `from` to disk `to`,
/// then give the copy the FAT volume serial `serial` (root/esp.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EspCopy {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) offset: Bytes,
    pub(crate) len: Bytes,
    pub(crate) serial: u32,
}

impl Step {
    /// The description a metadata write records.
    pub(crate) fn written_meta(&self) -> Option<std::borrow::Cow<'_, ClassMeta>> {
        match self {
            Step::WriteMeta { meta } => Some(std::borrow::Cow::Borrowed(&**meta)),
            Step::WriteShared { meta, generation } => {
                let mut m = (**meta).clone();
                m.generation = *generation;
                Some(std::borrow::Cow::Owned(m))
            }
            _ => None,
        }
    }
}

/// One planned action. JSON: `{"kind": ..., "object": ..., "detail": ...}`.
///
/// `object` and `detail` are [`Text`]s: their words are written when shown, so a
/// plan of many volumes does not carry hundreds of thousands of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// What is done.
    pub kind: ActionKind,
    /// To what: a disk name, a dm name, or the class name.
    pub object: Text,
    /// Human-readable detail (sizes, offsets, generation).
    pub detail: Text,
    #[serde(skip)]
    pub(crate) step: Step,
}

impl Action {
    /// An action: `kind` of `object`, described by `detail`, carried out as `step`.
    pub(crate) fn new(
        kind: ActionKind,
        object: impl Into<Text>,
        detail: impl Into<Text>,
        step: Step,
    ) -> Action {
        Action {
            kind,
            object: object.into(),
            detail: detail.into(),
            step,
        }
    }

    /// Write `meta` (its generation) to the private areas of `disks`, saying why.
    pub(crate) fn write_meta<S: AsRef<str>>(meta: &ClassMeta, disks: &[S], why: &str) -> Action {
        let names: Vec<&str> = disks.iter().map(AsRef::as_ref).collect();
        Action::new(
            ActionKind::WriteMetadata,
            meta.name.clone(),
            format!(
                "generation {} on {} ({why})",
                meta.generation,
                names.join(", ")
            ),
            Step::WriteMeta {
                meta: Rc::new(meta.clone()),
            },
        )
    }

    /// [`Action::write_meta`] to every disk of the class.
    pub(crate) fn write_meta_all(meta: &ClassMeta, why: &str) -> Action {
        let disks: Vec<&str> = meta.disks.iter().map(|d| d.name.as_str()).collect();
        Action::write_meta(meta, &disks, why)
    }
}

/// An ordered set of actions that turns the actual class into the desired one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Class name.
    pub class: String,
    /// Class UUID (new for a new class).
    pub class_uuid: Uuid,
    /// Newest on-disk generation the plan was made against; `None` for a new class.
    pub based_on_generation: Option<u64>,
    /// The class description once the plan is executed (first metadata write).
    #[serde(skip)]
    pub new_meta: ClassMeta,
    /// The class description the plan was made against (`None` for a new class): what
    /// a change must hold before it runs (a shared class's leases).
    #[serde(skip)]
    pub old_meta: Option<ClassMeta>,
    /// Actions in execution order.
    pub actions: Vec<Action>,
    /// Remarks (rounded sizes, ignored attributes).
    pub notes: Vec<String>,
    /// Disk name → device node, for rendering.
    #[serde(skip)]
    pub(crate) disks: BTreeMap<String, PathBuf>,
    /// Disk name → device number, for rendering (`<name>` when unknown).
    #[serde(skip)]
    pub(crate) devnums: BTreeMap<String, DevNum>,
    /// dm name → device number of live devices, for rendering.
    #[serde(skip)]
    pub(crate) live: BTreeMap<String, DevNum>,
}

impl Plan {
    /// A plan without actions that turns the class into `meta`, rendering disks and
    /// live devices from `bindings` and `actual` (shared by every kind of plan).
    pub(crate) fn empty(
        cur: &current::Current,
        desired: &Class,
        bindings: &[DiskBinding],
        actual: &Actual,
        meta: ClassMeta,
    ) -> Plan {
        Plan {
            class: desired.name.as_str().to_owned(),
            class_uuid: meta.uuid,
            based_on_generation: cur.meta.as_ref().map(|m| m.generation),
            old_meta: cur.meta.clone(),
            new_meta: meta,
            actions: Vec::new(),
            notes: Vec::new(),
            disks: bindings
                .iter()
                .map(|b| (b.name.clone(), b.path.clone()))
                .collect(),
            devnums: bindings
                .iter()
                .filter_map(|b| b.devnum.map(|n| (b.name.clone(), n)))
                .collect(),
            live: actual
                .live
                .iter()
                .map(|i| (i.name.clone(), i.devnum))
                .collect(),
        }
    }

    /// True when nothing needs doing (re-applying the same file).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Plan the changes that make `desired` true on the bound disks.
///
/// `bindings` must hold every disk of `desired` (see [`bind_disks`]); `actual` comes
/// from [`read_actual`] over the same bindings. Refusals are [`EngineError::Refused`];
/// nothing is written by planning.
pub fn plan(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    opts: &PlanOptions,
) -> Result<Plan> {
    if root::is_conversion(desired) {
        return root::plan_root(desired, bindings, actual, opts);
    }
    plan_diff(desired, bindings, actual, opts)
}

/// The general planner: the class on the disks compared with `desired` (a converted
/// root class comes here for its snapshots and proxies).
fn plan_diff(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    opts: &PlanOptions,
) -> Result<Plan> {
    let mut ids = Ids::new(opts.id_seed);
    intent::check_closed(desired.name.as_str(), actual)?;
    let cur = current::current(desired, bindings, actual)?;
    intent::check_pending(desired.name.as_str(), &cur)?;
    let d = diff::diff(desired, bindings, &cur, opts, &mut ids)?;
    let (actions, shared) = order::actions(&cur, &d, actual)?;
    // moved, not cloned: the description of a large class is big
    let mut p = Plan::empty(&cur, desired, bindings, actual, d.meta);
    p.actions = actions;
    p.notes = d.notes;
    intent::record(&mut p, cur.meta.as_ref(), &d.changes, shared, &mut ids)?;
    Ok(p)
}
