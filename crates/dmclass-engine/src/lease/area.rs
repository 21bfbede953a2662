//! Where a shared class's leases lie on its disks: one run of sectors on one member
//! disk, taken from the free space when the class is created (before any volume, so
//! it sits at the start of the data area; the planner places it, `plan::lease_area`),
//! and which slot each volume's lease has.
//!
//! One disk, not a mirror: two nodes each running their own raid1 over the lease
//! copies could read different copies, and sanlock's disk paxos needs every node to
//! read what the others wrote. docs/shared-class.md says what a lost lease disk means.

use super::{Geometry, LeaseLayout};
use crate::layout::Extent;
use dmclass_model::{Bytes, Sectors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Volume slots a new class's area has: 29 plus the three fixed units make 32 units
/// (32 MiB on 512-byte-sector disks).
pub const SLOTS: u32 = 29;

/// A shared class's lease area, as recorded in its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseArea {
    /// The sectors on one member disk.
    pub extent: Extent,
    /// Sector size and unit.
    pub geometry: Geometry,
    /// Volume slots.
    pub slots: u32,
    /// Volume name → its slot (kept for the volume's life).
    #[serde(default)]
    pub volumes: BTreeMap<String, u32>,
}

impl LeaseArea {
    /// Offsets inside the area.
    pub fn layout(&self) -> LeaseLayout {
        LeaseLayout {
            geometry: self.geometry,
            slots: self.slots,
        }
    }

    /// Byte offset of the area on its disk.
    pub fn start(&self) -> Bytes {
        self.extent.offset.to_bytes()
    }

    /// Byte offset on the disk of `volume`'s lease and of its holder note.
    pub fn volume(&self, volume: &str) -> Option<(Bytes, Bytes)> {
        let slot = *self.volumes.get(volume)?;
        let l = self.layout();
        let start = self.start().0;
        Some((
            Bytes(start + l.volume_lease(slot)?.0),
            Bytes(start + l.note(slot)?.0),
        ))
    }

    /// Why a recorded area (untrusted: read from disks) cannot be used, if it cannot:
    /// its disk's size (`None`: no such disk) and where that disk's data area starts.
    pub fn problem(&self, disk_size: Option<Sectors>, data_start: Sectors) -> Option<String> {
        let Some(disk_size) = disk_size else {
            return Some(format!("lease area on unknown disk {}", self.extent.disk));
        };
        let want = self.layout().size().0 / 512;
        let notes = self.geometry.unit().0 / u64::from(self.geometry.sector());
        if self.extent.len.0 != want || u64::from(self.slots) > notes {
            return Some(format!(
                "lease area of {} sectors for {} slots ({:?}): does not fit its geometry",
                self.extent.len.0, self.slots, self.geometry
            ));
        }
        if self.extent.end() > disk_size || self.extent.offset < data_start {
            return Some("lease area outside its disk's data area".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (v, &slot) in &self.volumes {
            if slot >= self.slots || !seen.insert(slot) {
                return Some(format!(
                    "lease slot {slot} of volume {v}: out of range or taken twice"
                ));
            }
        }
        None
    }
}
