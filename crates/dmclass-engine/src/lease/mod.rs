//! Disk leases of a shared class (sanlock): what the leases are called, where they lie
//! in the class's lease area, and how a holder is told to the admin.
//!
//! One sanlock lockspace per class (each node's `host_id` lease, renewed while the node
//! runs), one resource lease for the class's metadata (every change), and one per
//! volume (exclusive activation). Built so far: these names, the lease area's geometry
//! and offsets, the lock value block recording who took a lease and when, and the
//! holder message. Not built: the area on the disks, acquiring and releasing in
//! `activate`/`deactivate` (a shared class is still refused by `plan`/`apply`).

use crate::error::{EngineError, Result};
use dmclass_model::{Bytes, HostId};
use uuid::Uuid;

/// sanlock's longest lockspace and resource name (bytes).
pub const NAME_MAX: usize = 48;
/// The resource lease of the class's metadata.
pub const CLASS_RESOURCE: &str = "class";
/// The lock value block's size (sanlock's LVB is one sector; dmclass uses 512 bytes).
pub const LVB_LEN: usize = 512;
/// The LVB's first bytes, and its version.
const LVB_MAGIC: &str = "dmclass-lvb/1";

/// The lease area's geometry: sanlock's sector size and the unit every lease takes
/// (its "align size"); the unit bounds how many hosts (the largest host id) it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// class's metadata lease in the second, then one unit per volume slot. A volume keeps
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
        Bytes(self.geometry.unit().0 * (2 + u64::from(self.slots)))
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
        (slot < self.slots).then(|| Bytes(self.geometry.unit().0 * (2 + u64::from(slot))))
    }
}

/// The lockspace of the class with UUID `class`: `dmclass-` and the UUID's 32 hex
/// digits (40 bytes; a class name could be reused by another class).
pub fn lockspace_name(class: Uuid) -> String {
    format!("dmclass-{}", class.simple())
}

/// The resource lease of volume `volume` (a name of at most 32 characters).
pub fn volume_resource(volume: &str) -> Result<String> {
    let name = format!("v:{volume}");
    if name.len() > NAME_MAX {
        return Err(EngineError::InvalidLayout(format!(
            "volume {volume}: lease name {name:?} is longer than sanlock's {NAME_MAX} bytes"
        )));
    }
    Ok(name)
}

/// Who holds a lease, from the disks: sanlock's owner host id, and what dmclass wrote
/// in the lock value block when it took the lease (absent or unreadable: `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The owner's host id.
    pub host_id: HostId,
    /// The node name and the time (seconds since the epoch) from the LVB.
    pub taken: Option<(String, u64)>,
}

/// What the admin reads when `what` (e.g. `acc/vol1`) is held by another node:
/// `acc/vol1 is active on node1 (host_id 1) since 2026-12-06T16:15:16Z`. The node's name
/// comes from the class's `nodes` by host id; the LVB's name only when the class does
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
            crate::monitor::rfc3339_utc(*since)
        ),
        None => format!("{what} is active on {who}"),
    }
}

/// The lock value block dmclass writes when it takes a lease: the node's name and the
/// time, as one line `dmclass-lvb/1 node=NAME since=SECS`, zero-padded.
pub fn encode_lvb(node: &str, since: u64) -> Result<[u8; LVB_LEN]> {
    dmclass_model::name::check_node_name(node)
        .map_err(|e| EngineError::InvalidLayout(format!("lock value block: {e}")))?;
    let line = format!("{LVB_MAGIC} node={node} since={since}");
    let mut out = [0u8; LVB_LEN];
    // A node name is at most 64 bytes: the line always fits.
    out.get_mut(..line.len())
        .ok_or_else(|| EngineError::InvalidLayout("lock value block too long".into()))?
        .copy_from_slice(line.as_bytes());
    Ok(out)
}

/// What [`encode_lvb`] wrote, from untrusted bytes: `None` unless it is exactly that
/// form (another version, garbage or an all-zero block: unknown taker).
pub fn decode_lvb(bytes: &[u8]) -> Option<(String, u64)> {
    let bytes = bytes.get(..LVB_LEN.min(bytes.len()))?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if bytes[end..].iter().any(|&b| b != 0) {
        return None;
    }
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut words = text.split(' ');
    if words.next()? != LVB_MAGIC {
        return None;
    }
    let node = words.next()?.strip_prefix("node=")?;
    let since = words.next()?.strip_prefix("since=")?.parse().ok()?;
    if words.next().is_some() || dmclass_model::name::check_node_name(node).is_err() {
        return None;
    }
    Some((node.to_owned(), since))
}

#[cfg(test)]
mod tests;
