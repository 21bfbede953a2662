//! Disk leases of a shared class (sanlock): what the leases are called, where they lie
//! in the class's lease area, and how a holder is told to the admin.
//!
//! One sanlock lockspace per class (each node's `host_id` lease, renewed while the node
//! runs), one resource lease for the class's metadata (every change), and one per
//! volume (exclusive activation). Pure: the names, the lease area's geometry and
//! offsets ([`area`]: where it lies on the disks), the holder note recording who took a
//! lease and when ([`note`]), sanlock's command-line arguments and output
//! ([`sanlock`]), the holder message. Taking and releasing leases is the shell's
//! (`dmclass-linux`'s sanlock client).

pub mod area;
pub mod client;
pub mod fence;
pub mod note;
pub mod sanlock;
pub mod status;

use crate::error::{EngineError, Result};
use dmclass_model::{Bytes, HostId};
use uuid::Uuid;

/// sanlock's longest lockspace and resource name (bytes).
pub const NAME_MAX: usize = 48;
/// The resource lease of the class's metadata.
pub const CLASS_RESOURCE: &str = "class";
/// Units before the first volume slot: lockspace, class lease, holder notes.
const FIXED_UNITS: u64 = 3;

/// The lease area's geometry: sanlock's sector size and the unit every lease takes
/// (its "align size"); the unit bounds how many hosts (the largest host id) it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Geometry {
    /// 512-byte sectors, 1 MiB per lease: 2000 hosts.
    S512A1M,
    /// 4096-byte sectors, 1 MiB per lease: 250 hosts.
    S4kA1M,
    /// 4096-byte sectors, 2 MiB per lease: 500 hosts.
    S4kA2M,
    /// 4096-byte sectors, 4 MiB per lease: 1000 hosts.
    S4kA4M,
    /// 4096-byte sectors, 8 MiB per lease: 2000 hosts.
    S4kA8M,
}

impl Geometry {
    /// The smallest geometry for disks of `sector` bytes that holds host id `largest`.
    pub fn for_disks(sector: u32, largest: HostId) -> Result<Geometry> {
        let candidates: &[Geometry] = match sector {
            512 => &[Geometry::S512A1M],
            4096 => &[
                Geometry::S4kA1M,
                Geometry::S4kA2M,
                Geometry::S4kA4M,
                Geometry::S4kA8M,
            ],
            other => {
                return Err(EngineError::InvalidLayout(format!(
                    "lease area on disks of {other}-byte sectors: sanlock takes 512 or 4096"
                )))
            }
        };
        candidates
            .iter()
            .copied()
            .find(|g| g.max_hosts() >= largest.get())
            .ok_or_else(|| {
                EngineError::InvalidLayout(format!(
                    "host_id {largest} is larger than a lease area holds ({})",
                    HostId::MAX
                ))
            })
    }

    /// Sector size (bytes).
    pub fn sector(self) -> u32 {
        match self {
            Geometry::S512A1M => 512,
            _ => 4096,
        }
    }

    /// Bytes per lease.
    pub fn unit(self) -> Bytes {
        let mib = match self {
            Geometry::S512A1M | Geometry::S4kA1M => 1,
            Geometry::S4kA2M => 2,
            Geometry::S4kA4M => 4,
            Geometry::S4kA8M => 8,
        };
        Bytes(mib << 20)
    }

    /// The largest host id the geometry holds.
    pub fn max_hosts(self) -> u16 {
        match self {
            Geometry::S512A1M | Geometry::S4kA8M => 2000,
            Geometry::S4kA1M => 250,
            Geometry::S4kA2M => 500,
            Geometry::S4kA4M => 1000,
        }
    }
}

/// Where the leases lie in a class's lease area: the lockspace in the first unit, the
/// class's metadata lease in the second, the holder notes in the third (one sector per
/// volume slot, written only by the slot's lease holder), then one unit per volume slot. A volume keeps
/// its slot for its life (recorded with the volume), so adding or removing volumes
/// never moves another volume's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseLayout {
    /// Sector size and unit.
    pub geometry: Geometry,
    /// Volume slots.
    pub slots: u32,
}

impl LeaseLayout {
    /// The area's size.
    pub fn size(&self) -> Bytes {
        Bytes(self.geometry.unit().0 * (FIXED_UNITS + u64::from(self.slots)))
    }

    /// Offset of the lockspace (host-id leases).
    pub fn lockspace(&self) -> Bytes {
        Bytes(0)
    }

    /// Offset of the class's metadata lease.
    pub fn class_lease(&self) -> Bytes {
        self.geometry.unit()
    }

    /// Offset of volume slot `slot`, if the area has it.
    pub fn volume_lease(&self, slot: u32) -> Option<Bytes> {
        (slot < self.slots).then(|| Bytes(self.geometry.unit().0 * (FIXED_UNITS + u64::from(slot))))
    }

    /// Offset of volume slot `slot`'s holder note (one sector), if the area has it.
    pub fn note(&self, slot: u32) -> Option<Bytes> {
        let sector = u64::from(self.geometry.sector());
        (slot < self.slots && u64::from(slot) < self.geometry.unit().0 / sector)
            .then(|| Bytes(self.geometry.unit().0 * 2 + u64::from(slot) * sector))
    }
}

/// The lockspace of the class with UUID `class`: `dmclass-` and the UUID's 32 hex
/// digits (40 bytes; a class name could be reused by another class).
pub fn lockspace_name(class: Uuid) -> String {
    format!("dmclass-{}", class.simple())
}

/// The resource lease of volume `volume` (a name of at most 32 characters).
pub fn volume_resource(volume: &str) -> Result<String> {
    // No colon: sanlock's command line separates fields with it.
    let name = format!("v.{volume}");
    if name.len() > NAME_MAX {
        return Err(EngineError::InvalidLayout(format!(
            "volume {volume}: lease name {name:?} is longer than sanlock's {NAME_MAX} bytes"
        )));
    }
    Ok(name)
}

/// Who holds a lease, from the disks: sanlock's owner host id, and what dmclass wrote
/// in the holder note when it took the lease (absent, unreadable or another node's:
/// `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The owner's host id.
    pub host_id: HostId,
    /// The node name and the time (seconds since the epoch) from the LVB.
    pub taken: Option<(String, u64)>,
}

/// What the admin reads when `what` (e.g. `acc/vol1`) is held by another node:
/// What a lease guards, for messages: `acc/vol1` (a volume's), `class acc` (the
/// class lease, `volume` `None`).
pub fn guarded(class: &str, volume: Option<&str>) -> String {
    match volume {
        Some(v) => format!("{class}/{v}"),
        None => format!("class {class}"),
    }
}

/// `acc/vol1 is active on node1 (host_id 1) since 2026-12-06T16:15:16Z`. The node's name
/// comes from the class's `nodes` by host id; the note's name only when the class does
/// not list that host id (then said so).
pub fn holder_message(what: &str, holder: &Holder, nodes: &[dmclass_model::ClusterNode]) -> String {
    let listed = nodes.iter().find(|n| n.host_id == holder.host_id);
    let who = match (listed, &holder.taken) {
        (Some(n), _) => format!("{} (host_id {})", n.name, holder.host_id),
        (None, Some((name, _))) => format!(
            "host_id {} (calls itself {name}; not in the class's nodes)",
            holder.host_id
        ),
        (None, None) => format!("host_id {} (not in the class's nodes)", holder.host_id),
    };
    match &holder.taken {
        Some((_, since)) => format!(
            "{what} is active on {who} since {}",
            crate::time::rfc3339_utc(*since)
        ),
        None => format!("{what} is active on {who}"),
    }
}

#[cfg(test)]
mod tests;
