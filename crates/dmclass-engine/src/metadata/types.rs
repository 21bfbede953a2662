//! The class description stored (as JSON) in every configuration slot.
//!
//! It is the whole class: every disk with its identity, groups, volumes with their
//! layouts and states, snapshots, and the pending intent of an interrupted apply.
//! Enumerations are spelled as the YAML and GDS spell them.

use crate::layout::VolumeLayout;
use dmclass_model::{Bytes, Sectors};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the JSON body format (independent of the binary layout version).
pub const BODY_FORMAT: u32 = 1;

/// The whole class as recorded on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassMeta {
    /// Body format version ([`BODY_FORMAT`]).
    pub format: u32,
    /// Class name.
    pub name: String,
    /// Class UUID (also in every header and slot).
    pub uuid: Uuid,
    /// Class type.
    pub class_type: ClassTypeMeta,
    /// Cluster nodes (shared classes).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Their host ids, in the order of `nodes` (empty in descriptions written before
    /// host ids existed: 1, 2, … in order, as the YAML's short form gives).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_ids: Vec<u16>,
    /// Their addresses on the mirror network, in the order of `nodes` (netmirror
    /// classes; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// A netmirror class's secrets file (its path on every node: the secrets are
    /// never recorded; [`crate::netmirror::secret`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    /// Automatic hot spare.
    #[serde(default)]
    pub hot_spare: bool,
    /// Generation: bumped by every metadata write; the newest valid one wins.
    pub generation: u64,
    /// Registered disks.
    pub disks: Vec<DiskMeta>,
    /// Groups.
    pub groups: Vec<GroupMeta>,
    /// Volumes.
    pub volumes: Vec<VolumeMeta>,
    /// Snapshots of the class's volumes, both kinds: copy-on-write ([`crate::cow`])
    /// and proxy ([`crate::proxy`]).
    #[serde(default)]
    pub snapshots: Vec<SnapshotMeta>,
    /// An apply in progress, for crash recovery (see [`Intent`]).
    #[serde(default)]
    pub intent: Option<Intent>,
    /// Disks that failed while the class ran, and legs hot spares took over
    /// ([`super::departure`]); absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departed: Vec<super::Departure>,
    /// A requested undo of a root class (`dmclass root undo`): the next boot takes the
    /// class apart instead of assembling it ([`crate::root::undo`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<UndoMeta>,
    /// A shared class's lease area ([`crate::lease::area`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leases: Option<crate::lease::area::LeaseArea>,
    /// A root class's boot environments ([`crate::bootenv`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boot_envs: Vec<BootEnvMeta>,
}

/// The name of the boot environment made of a root class's own volumes
/// ([`crate::bootenv`]); no recorded environment has it.
pub const PRIMARY_BOOT_ENV: &str = "primary";

/// A boot environment of a root class as recorded ([`crate::bootenv`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BootEnvMeta {
    /// Its name.
    pub name: String,
    /// When it was created (seconds since the epoch).
    pub created: u64,
    /// Its proxies, one per volume of the class.
    pub volumes: Vec<EnvVolume>,
    /// The proxy holding its root file system (its boot entries' `root=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// `creating` until its proxies are parted and its file systems name them.
    #[serde(default)]
    pub state: BootEnvState,
    /// `bootenv promote` recorded: the next boot that leaves the class's volumes
    /// closed copies this environment onto them and removes it ([`crate::bootenv`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote: bool,
}

/// One volume of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvVolume {
    /// The class volume (the proxy's master).
    pub volume: String,
    /// The proxy holding the environment's copy of it.
    pub proxy: String,
}

/// How far an environment got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootEnvState {
    /// Its proxies are joined or being parted; it does not boot yet (`bootenv create`
    /// again finishes it, `bootenv remove` takes it away).
    Creating,
    /// Parted, its file systems rewritten: it boots.
    #[default]
    Ready,
}

impl BootEnvState {
    /// Lowercase name, as recorded and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            BootEnvState::Creating => "creating",
            BootEnvState::Ready => "ready",
        }
    }
}

/// An undo of a root class, requested and not yet carried out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UndoMeta {
    /// The disk whose partitions the machine boots from afterwards.
    pub keep: String,
}

impl ClassMeta {
    /// The cluster nodes with their host ids and addresses; `None` when what is
    /// recorded does not fit the nodes (another count, an id out of range, the same id
    /// twice, an address that is not one a partner can reach).
    pub fn cluster_nodes(&self) -> Option<Vec<dmclass_model::ClusterNode>> {
        let mut out = if self.host_ids.is_empty() {
            dmclass_model::ClusterNode::in_order(&self.nodes)
        } else {
            if self.host_ids.len() != self.nodes.len() {
                return None;
            }
            let mut out: Vec<dmclass_model::ClusterNode> = Vec::with_capacity(self.nodes.len());
            for (name, &id) in self.nodes.iter().zip(&self.host_ids) {
                let host_id = dmclass_model::HostId::new(u64::from(id))?;
                if out.iter().any(|n| n.host_id == host_id) {
                    return None;
                }
                out.push(dmclass_model::ClusterNode {
                    name: name.clone(),
                    host_id,
                    address: None,
                });
            }
            out
        };
        if !self.addresses.is_empty() {
            if self.addresses.len() != out.len() {
                return None;
            }
            for (n, text) in out.iter_mut().zip(&self.addresses) {
                let addr: std::net::IpAddr = text.parse().ok()?;
                if dmclass_model::address_problem(addr).is_some() {
                    return None;
                }
                n.address = Some(addr);
            }
        }
        Some(out)
    }

    /// Records `nodes` (names, host ids and, when every node has one, addresses).
    pub fn set_cluster_nodes(&mut self, nodes: &[dmclass_model::ClusterNode]) {
        self.nodes = nodes.iter().map(|n| n.name.clone()).collect();
        self.host_ids = nodes.iter().map(|n| n.host_id.get()).collect();
        self.addresses = nodes
            .iter()
            .map(|n| n.address.map(|a| a.to_string()))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
    }

    /// An empty class description at generation 0.
    pub fn new(name: &str, uuid: Uuid, class_type: ClassTypeMeta) -> Self {
        ClassMeta {
            format: BODY_FORMAT,
            name: name.to_owned(),
            uuid,
            class_type,
            nodes: Vec::new(),
            host_ids: Vec::new(),
            addresses: Vec::new(),
            secret_file: None,
            hot_spare: false,
            generation: 0,
            disks: Vec::new(),
            groups: Vec::new(),
            volumes: Vec::new(),
            snapshots: Vec::new(),
            intent: None,
            departed: Vec::new(),
            undo: None,
            leases: None,
            boot_envs: Vec::new(),
        }
    }

    /// The disk with this name.
    pub fn disk(&self, name: &str) -> Option<&DiskMeta> {
        self.disks.iter().find(|d| d.name == name)
    }

    /// Stable id of a disk for messages and logs: by-id link, else WWN, else serial.
    pub fn stable_id(&self, disk: &str) -> String {
        self.disk(disk)
            .and_then(|d| {
                d.identity
                    .by_id
                    .clone()
                    .or_else(|| d.identity.wwn.clone())
                    .or_else(|| d.identity.serial.clone())
            })
            .unwrap_or_else(|| "no stable id".into())
    }

    /// The group with this name.
    pub fn group(&self, name: &str) -> Option<&GroupMeta> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The volume with this name.
    pub fn volume(&self, name: &str) -> Option<&VolumeMeta> {
        self.volumes.iter().find(|v| v.name == name)
    }
}

/// Class type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassTypeMeta {
    /// System disk class.
    Root,
    /// One node.
    Local,
    /// Cluster nodes in scope.
    Shared,
}

/// How a disk is recognised again (never by `/dev/sdX`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiskIdentity {
    /// `ID_SERIAL_SHORT` or `ID_SERIAL`.
    #[serde(default)]
    pub serial: Option<String>,
    /// `ID_WWN`.
    #[serde(default)]
    pub wwn: Option<String>,
    /// A `/dev/disk/by-id/...` link.
    #[serde(default)]
    pub by_id: Option<String>,
}

/// Role of a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskRoleMeta {
    /// Ordinary member.
    Member,
    /// Hot spare.
    Spare,
    /// Root class disk whose data is kept.
    Keep,
    /// Volumes directly on the disk.
    Single,
}

/// GDS disk state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DiskState {
    /// Usable.
    Enable,
    /// Identity check failed or missing.
    Disable,
    /// Hot spare standing by.
    Spare,
}

/// A registered disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskMeta {
    /// Name within the class.
    pub name: String,
    /// Disk UUID (also in this disk's headers and slots).
    pub uuid: Uuid,
    /// How to recognise it.
    pub identity: DiskIdentity,
    /// Size of the disk when registered.
    pub size: Sectors,
    /// Role.
    pub role: DiskRoleMeta,
    /// State.
    pub state: DiskState,
    /// Where the private area starts: 0 for a whole-disk member, the dmclass
    /// partition's start on a root class's disks (root/keep.rs). Checked against
    /// the partition table every time the area is read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub area_offset: Sectors,
    /// The node the disk is local to (netmirror groups: the other node reaches it over
    /// the network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(s: &Sectors) -> bool {
    s.0 == 0
}

/// Group type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum GroupKindMeta {
    /// Mirror of disks or of lower groups.
    Mirror,
    /// Stripe with a chunk size.
    Stripe {
        /// Chunk size.
        chunk: Sectors,
    },
    /// Concatenation.
    Concat,
    /// Inter-server mirror.
    Netmirror,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMeta {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: GroupKindMeta,
    /// Members: disk names, or lower group names for a mirror.
    pub members: Vec<String>,
}

/// Mirror engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineMeta {
    /// dm-raid raid1.
    #[default]
    Raid1,
    /// dm-mirror.
    Mirror,
}

/// Access mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeMeta {
    /// Read-write.
    #[default]
    Rw,
    /// Read-only.
    Ro,
}

/// A volume with its layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeta {
    /// Name.
    pub name: String,
    /// Volume UUID (part of every dm UUID of the volume).
    pub uuid: Uuid,
    /// Group or single disk it lives on.
    pub on: String,
    /// Logical size.
    pub size: Sectors,
    /// Mirror engine.
    pub engine: EngineMeta,
    /// Just-resynchronisation.
    pub jrm: bool,
    /// Access mode.
    pub mode: ModeMeta,
    /// Start on assembly.
    pub autostart: bool,
    /// Region size of the bitmap / dirty log (fixed when the volume is created).
    pub region: Sectors,
    /// Where the data lives, with per-leg (slice) states.
    pub layout: VolumeLayout,
    /// Resync speed limit in bytes per second per disk (raid1 `max_recovery_rate`,
    /// in whole KiB); absent = kernel default. Changeable while live (reload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_rate: Option<Bytes>,
    /// Root class: the keep disk's partition this volume mirrors in place (the same
    /// entry number on every disk of the class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<u32>,
}

/// Snapshot kind: copy-on-write (a COW store over the origin) or proxy (a full
/// copy, joined to its master as a raid1 leg or parted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum SnapshotKindMeta {
    /// dm-snapshot copy-on-write.
    Cow {
        /// COW store size.
        size: Sectors,
        /// Chunk size.
        chunk: Sectors,
        /// Where the COW store lives: a hidden volume-like stack on the origin's group
        /// (its own slices; raid1 / dm-mirror legs when the group is a mirror).
        #[serde(default)]
        store: Option<Box<VolumeMeta>>,
        /// `active`, `merging` or `invalid` (see [`CowState`]).
        #[serde(default)]
        state: CowState,
    },
    /// GDS proxy volume (see [`crate::proxy`]).
    Proxy {
        /// Group holding the proxy.
        on: String,
        /// `joined` or `parted`.
        state: ProxyStateMeta,
        /// The proxy's storage: one raid1 leg (rmeta + image) on the proxy group's
        /// first member, used as an extra leg of the master while joined.
        #[serde(default)]
        leg: Option<crate::layout::Leg>,
        /// Parted read-write: the proxy may have been written, so the next rejoin
        /// copies the whole leg (no tracking of proxy-side writes).
        #[serde(default)]
        written: bool,
        /// Parted with `--readonly`: the proxy device is read-only and the next
        /// rejoin copies only the regions the master changed.
        #[serde(default)]
        readonly: bool,
        /// A 1 MiB metadata extent on the proxy group for the tracking bitmap: a
        /// proxy parted read-write runs as a degraded raid1 over its image with this
        /// rmeta, so md records every region written to it (proxy/mod.rs). Absent on
        /// proxies never parted read-write (and on those parted before tracking
        /// existed: their next rejoin is a full copy).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        track: Option<crate::layout::Extent>,
    },
}

/// State of a proxy relative to its master, as recorded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyStateMeta {
    /// An extra leg of the master, kept in sync.
    Joined,
    /// Split off: a point-in-time copy usable as its own volume.
    Parted,
}

/// State of a copy-on-write snapshot as recorded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CowState {
    /// In use: the snapshot device exists while the origin is active.
    #[default]
    Active,
    /// Being merged back into the origin (`snapshot-merge`); started at the next
    /// activation when the origin was open.
    Merging,
    /// The COW store overflowed or failed; the snapshot is unusable.
    Invalid,
}

/// A snapshot of a volume (its kind says which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: Uuid,
    /// Origin volume.
    pub origin: String,
    /// Kind.
    pub kind: SnapshotKindMeta,
}

pub use super::intent::{Intent, IntentChange, IntentOp};
