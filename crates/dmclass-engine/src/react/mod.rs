//! Reactions to hotplug and device-mapper events (GDS hot spare, transient leg
//! failure, returning disks): `dmclass event` and `dmclass monitor` decide here.
//!
//! Deciding is pure ([`decide`]): a class description, the names of the disks present,
//! the live state of the volumes ([`LiveClass`]) and, for a disk that appeared, its
//! label ([`DiskLabel`]) give a list of [`Reaction`]s; [`decide::record`] turns them
//! into the next class description. Carrying them out ([`run`]) writes that
//! description to the member disks first, then issues the few ioctls a reaction
//! needs, so a crash in between leaves metadata that activation completes safely (a
//! `COPY` leg is rebuilt in full at the next activation).
//!
//! # State machine (raid1 volumes)
//!
//! Slice (= leg) states as recorded in the metadata; "health" is the leg's character
//! in the dm-raid status line (`A` in sync, `a` syncing, `D` dead, `-` absent).
//!
//! | from | event | to | action |
//! |---|---|---|---|
//! | ACTIVE or COPY | health `D` (I/O error, disk unplugged) | INVALID | record a [`Departure`] of the leg's disks (generation at departure); log with the disk's stable id; with `hot_spare`: take a spare (below) |
//! | INVALID | returning disk passes the identity check, leg in the table | ACTIVE | reload the leg's `_rmeta_N` / `_rimage_N` onto the disk's (new) device number, suspend + resume the raid: the kernel resyncs the bitmap's regions from the leg's own superblock |
//! | INVALID | returning disk passes the identity check, leg absent (`- -`) | COPY, then ACTIVE | as above with `rebuild N` (a full copy); ACTIVE once the table is loaded |
//! | INVALID | health `a` (the kernel revived it) | ACTIVE | none |
//! | COPY | health `A` | ACTIVE | none (only after a crash between the two writes of a full rebuild) |
//! | INVALID, hot spare found | leg failed | COPY (leg now on the spare), then ACTIVE | zero the spare's new rmeta, reload `_rmeta_N` / `_rimage_N` onto the spare, reload the raid with `rebuild N` (full copy); spare disk SPARE → ENABLE |
//! | ACTIVE on spare | original disk returns | COPY (leg back on the original), then ACTIVE | swap back: zero the original rmeta, reload onto it with `rebuild N` (full copy: the slot ran non-degraded on the spare, so the old bitmap cannot be trusted, raid_split_readd.md §2.4); the spare's extents are freed at once and the spare goes back to SPARE when the original leg is in sync |
//!
//! `COPY` means "not yet handed to the kernel": activation rebuilds it in full.
//! `ACTIVE` means "tracked by the kernel": whether the leg is complete is read from
//! the dm-raid superblocks ([`crate::raid_sb`]), so a resync that finished unseen
//! counts and one cut by a crash does not. A finished swap-back (health `A` on a leg
//! with a returned takeover) releases the spare.
//!
//! Disk states: `ENABLE` → (leg failure) still `ENABLE` with a [`Departure`] record
//! (GDS's I/O-error flag) → the record is removed when every one of its slices is
//! back (`COPY`/`ACTIVE`). A disk whose label names this class but fails the identity
//! check is reported and **never written**: another class with the same name
//! (different class UUID), a disk UUID the class does not list, a generation newer
//! than the class (split brain), or a generation other than the one recorded when it
//! left (a stale copy). A spare is `SPARE`, `ENABLE` while it holds a slice.
//!
//! A spare is never chained: when the failed leg was on a spare, no other spare is
//! taken (GDS §3.2). dm-mirror volumes are not handled here (their legs have no
//! metadata device and no per-leg re-add); their failures show in `status`.
//!
//! Inactive classes: a disk appearing for a class with no running volume starts the
//! class when every registered disk is present (or, with `degraded` allowed, when
//! every autostart volume has a complete leg) — [`Reaction::Activate`].

pub mod decide;
pub mod handle;
pub mod run;
pub mod spare;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sim;

use crate::layout::Leg;
use crate::metadata::AreaHeader;
use crate::status::RaidHealth;
use std::collections::BTreeMap;
use uuid::Uuid;

pub use decide::{on_disk_added, on_dm_event, record};
pub use handle::{disk_added, dm_event, Handled};
pub use run::{carry_out, live_state, probe_label, udev_probe, Carried};
pub use spare::pick_spare;

pub use crate::metadata::{Departure, Takeover};

/// Choices of the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Start an inactive class although some disks are missing, when every autostart
    /// volume has a complete leg (GDS starts degraded; LVM's `-aay` does not).
    pub degraded: bool,
    /// Controller of each disk (facts `controller`), for the spare choice.
    pub controllers: BTreeMap<String, String>,
    /// The disk reappeared (udev `add`) rather than merely changed. A leg that failed
    /// while its disk stayed attached (I/O errors) is re-added only on a reappearance:
    /// a `change` event (udev's watch after any write) must not revive a failing disk
    /// over and over; it waits for a replug or a hot spare.
    pub reappeared: bool,
    /// The shared class whose class lease the caller holds (`activate` of a netmirror
    /// class taking its returning partner disk back; udev and the monitor on the node
    /// that runs a shared class's volumes): that class is handled like a local one.
    /// Every other shared class is left alone (its metadata changes only under its
    /// class lease).
    pub leased_class: Option<uuid::Uuid>,
    /// This machine's node name (its host name up to the first dot), when it has one:
    /// a netmirror leg taken back on the partner's disk keeps `write_mostly`
    /// ([`crate::netmirror::remote_legs`]), as activation loads it.
    pub node: Option<String>,
}

/// What a disk's label says (from its private area).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLabel {
    /// Class UUID.
    pub class_uuid: Uuid,
    /// Class name.
    pub class_name: String,
    /// This disk's UUID.
    pub disk_uuid: Uuid,
    /// Generation of the newest valid slot on the disk.
    pub generation: u64,
}

impl DiskLabel {
    /// The label of a decoded private area.
    pub fn from_area(area: &crate::metadata::DecodedArea) -> Self {
        DiskLabel {
            class_uuid: area.meta.uuid,
            class_name: area.meta.name.clone(),
            disk_uuid: area.header.disk_uuid,
            generation: area.meta.generation,
        }
    }

    /// A label from a header alone (`udev` probing; generation unknown = 0).
    pub fn from_header(h: &AreaHeader) -> Self {
        DiskLabel {
            class_uuid: h.class_uuid,
            class_name: h.class_name.clone(),
            disk_uuid: h.disk_uuid,
            generation: 0,
        }
    }
}

/// Live state of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegLive {
    /// Health character from the raid status.
    pub health: RaidHealth,
    /// The leg's `_rmeta_N` / `_rimage_N` exist and map its disks' current device
    /// numbers (false after a disk came back under a new number).
    pub attached: bool,
}

/// Live state of one volume.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeLive {
    /// Volume name.
    pub name: String,
    /// The top device has a live table.
    pub active: bool,
    /// Per leg, for a live raid1 volume (empty otherwise).
    pub legs: Vec<LegLive>,
    /// Sync percent of the array.
    pub percent: f64,
}

/// Live state of a class's volumes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveClass {
    /// Volumes (only those of raid1 engine carry leg states).
    pub volumes: Vec<VolumeLive>,
}

impl LiveClass {
    /// Whether any volume of the class runs.
    pub fn any_active(&self) -> bool {
        self.volumes.iter().any(|v| v.active)
    }

    /// The live state of a volume.
    pub fn volume(&self, name: &str) -> Option<&VolumeLive> {
        self.volumes.iter().find(|v| v.name == name)
    }
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// The disk's label names this class but the identity check failed: it is
    /// `DISABLE` and never written.
    Reject {
        /// Disk name (or the device path when the class does not list it).
        disk: String,
        /// Why.
        reason: String,
    },
    /// Nothing to do.
    Ignore {
        /// Why.
        reason: String,
    },
    /// Start the class (every autostart volume; degraded when disks are missing).
    Activate {
        /// Some registered disks are still missing.
        degraded: bool,
    },
    /// Bring a returning leg back into its running raid1.
    ReAdd {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
        /// The leg was absent from the table (`- -`): a full rebuild.
        full: bool,
    },
    /// A running leg failed: slice INVALID, departure recorded.
    LegFailed {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
        /// Its disks, with stable ids for the log.
        disks: Vec<String>,
    },
    /// A hot spare takes over a failed leg (full rebuild onto it).
    TakeOver {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
        /// Spare disk.
        spare: String,
        /// The leg's new layout on the spare (state COPY).
        new_leg: Leg,
    },
    /// Hot spare wanted but none fits.
    NoSpare {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
        /// Why.
        reason: String,
    },
    /// The original disk is back: the leg leaves the spare (full rebuild onto the
    /// original); the spare is released when that is in sync.
    SwapBack {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
        /// Spare disk being released.
        spare: String,
    },
    /// The kernel resyncs a leg the metadata has INVALID: COPY.
    Copying {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
    },
    /// A COPY leg is in sync: ACTIVE.
    Synced {
        /// Volume.
        volume: String,
        /// Leg index.
        leg: usize,
    },
}
