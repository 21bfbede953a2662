//! Typed configuration (docs/configuration.md). Every node carries the [`Span`] it came from.
//!
//! The parser (`parse` module, to come) builds these from YAML and validates them.

use crate::env::Environment;
use crate::size::Bytes;
use std::path::PathBuf;

/// Position of a YAML node in its file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// An admin-chosen object name: `[A-Za-z0-9_.+-]`, 1..=32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(pub String);

impl Name {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Schema version; only 1 exists.
    pub version: u32,
    /// `auto` (None) or an asserted environment.
    pub environment: Option<Environment>,
    /// Span of the `environment` value, when given.
    pub environment_span: Option<Span>,
    /// Devices never to register (N3).
    pub exclude: Vec<Located<PathBuf>>,
    /// The classes.
    pub classes: Vec<Class>,
}

/// A value with the span it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// GDS class type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClassType {
    /// System disk of this node (one per node).
    Root,
    /// Disks used by this node only.
    Local,
    /// Disks shared by the cluster nodes in `nodes`.
    Shared,
}

impl ClassType {
    /// YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassType::Root => "root",
            ClassType::Local => "local",
            ClassType::Shared => "shared",
        }
    }
}

/// A node's host id in a shared class's lease space (sanlock's `host_id`): 1..=2000,
/// unique among the class's nodes. A lease area of 1 MiB at 512-byte sectors holds
/// 2000 hosts, so that is the largest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(u16);

impl HostId {
    /// The largest host id.
    pub const MAX: u16 = 2000;

    /// `n` as a host id, if it is within 1..=[`HostId::MAX`].
    pub fn new(n: u64) -> Option<HostId> {
        u16::try_from(n)
            .ok()
            .filter(|&v| (1..=Self::MAX).contains(&v))
            .map(HostId)
    }

    /// The number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A cluster node of a shared class: its name (what the node calls itself), its host
/// id, and its address on the mirror network (netmirror groups). `nodes: [node1, node2]`
/// gives host ids 1, 2, … in list order; `nodes: [{name: node1, host_id: 7, address:
/// 10.0.0.1}, …]` gives them explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Node name.
    pub name: String,
    /// Host id in the class's lease space.
    pub host_id: HostId,
    /// Where the node exports its netmirror disk and the partner connects to it.
    pub address: Option<std::net::IpAddr>,
}

/// Why `addr` cannot carry a netmirror (a node's export address), if it cannot: it must
/// be a unicast address another node can reach without an interface scope.
pub fn address_problem(addr: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    match addr {
        a if a.is_unspecified() => Some("an unspecified address"),
        a if a.is_loopback() => Some("a loopback address (the partner cannot reach it)"),
        a if a.is_multicast() => Some("a multicast address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(a) if a.is_link_local() => Some("a link-local address (169.254/16)"),
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => {
            Some("a link-local address (fe80::/10)")
        }
        _ => None,
    }
}

impl ClusterNode {
    /// Nodes named `names` with host ids 1, 2, … in order (the short YAML form).
    pub fn in_order<S: AsRef<str>>(names: &[S]) -> Vec<ClusterNode> {
        names
            .iter()
            .zip(1u64..)
            .filter_map(|(n, i)| {
                HostId::new(i).map(|host_id| ClusterNode {
                    name: n.as_ref().to_owned(),
                    host_id,
                    address: None,
                })
            })
            .collect()
    }

    /// Whether `nodes` have the host ids the short form gives (1, 2, … in order).
    pub fn ids_in_order(nodes: &[ClusterNode]) -> bool {
        nodes.iter().zip(1u16..).all(|(n, i)| n.host_id.get() == i)
    }
}

/// A class: a named set of disks with groups, volumes and snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Class name.
    pub name: Name,
    /// Class type.
    pub class_type: ClassType,
    /// Cluster nodes (shared classes only), each with its lease host id.
    pub nodes: Vec<ClusterNode>,
    /// A netmirror class's authentication secrets: the path of a root-only file on
    /// every node (the secrets never appear in the YAML); `None`: no authentication.
    pub secret_file: Option<PathBuf>,
    /// Whether spares replace failed legs automatically.
    pub hot_spare: bool,
    /// Registered disks.
    pub disks: Vec<Disk>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Volumes.
    pub volumes: Vec<Volume>,
    /// Snapshots (cow and proxy).
    pub snapshots: Vec<Snapshot>,
    /// Where the class starts.
    pub span: Span,
}

impl Class {
    /// The names of the class's cluster nodes, in order.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The cluster node named `name`.
    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// How a disk is found: never by `/dev/sdX` alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DiskSelector {
    /// A device path, ideally `/dev/disk/by-id/...`.
    Device(PathBuf),
    /// The disk's serial (`ID_SERIAL_SHORT` / `ID_SERIAL`).
    Serial(String),
    /// The disk's WWN (`ID_WWN`).
    Wwn(String),
}

/// Role of a disk in its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskRole {
    /// Ordinary member, usable in groups.
    Member,
    /// Hot spare.
    Spare,
    /// Root class: keep existing data and partitions.
    Keep,
    /// Volumes directly on the disk, no group.
    Single,
}

/// A registered disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Disk name within the class.
    pub name: Name,
    /// How to find it.
    pub selector: DiskSelector,
    /// Role.
    pub role: DiskRole,
    /// Allow overwriting existing signatures.
    pub wipe: bool,
    /// Admin declares the disk is a vSAN-backed VMDK (N1, N2).
    pub vsan: bool,
    /// Node the disk is local to (netmirror groups in shared classes).
    pub node: Option<String>,
    /// Where the disk is declared.
    pub span: Span,
}

/// Group type with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// 2–8 members (disks, or stripe/concat groups).
    Mirror,
    /// 2–64 disk columns with a stripe size.
    Stripe {
        /// Bytes per stripe chunk.
        stripe_size: Bytes,
    },
    /// 2–64 disks concatenated.
    Concat,
    /// Inter-server mirror in a shared class: two disks, one per node (G5).
    Netmirror,
}

impl GroupKind {
    /// YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Mirror => "mirror",
            GroupKind::Stripe { .. } => "stripe",
            GroupKind::Concat => "concat",
            GroupKind::Netmirror => "netmirror",
        }
    }
}

/// A group of disks (or, for a mirror, of stripe/concat groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: Name,
    /// Type.
    pub kind: GroupKind,
    /// Member names: disks, or lower groups for a mirror.
    pub members: Vec<Located<Name>>,
    /// Where the group is declared.
    pub span: Span,
}

/// Mirror engine of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Engine {
    /// dm-raid raid1 (default).
    #[default]
    Raid1,
    /// dm-mirror.
    Mirror,
}

/// Access mode of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Read-write (default).
    #[default]
    Rw,
    /// Read-only.
    Ro,
}

/// A volume carved from a group or a single disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Volume name.
    pub name: Name,
    /// Group or single disk it lives on.
    pub on: Located<Name>,
    /// Requested size. `Bytes(0)` for a volume over a keep disk's partition
    /// ([`Volume::partition`]) declared without `size`: the partition's size.
    pub size: Bytes,
    /// Root class with a keep disk: the number of the keep disk's partition this
    /// volume mirrors in place (GPT entry number, as in `/dev/sda2`).
    pub partition: Option<u32>,
    /// Just-resynchronisation (change tracking).
    pub jrm: bool,
    /// Mirror engine.
    pub engine: Engine,
    /// Access mode.
    pub mode: Mode,
    /// Start at boot / on assembly.
    pub autostart: bool,
    /// Resynchronisation copy speed limit (`copy_rate`), in bytes per second per
    /// disk; `None` leaves the kernel default (`/proc/sys/dev/raid/speed_limit_max`).
    /// A whole number of KiB from 1KiB to [`MAX_COPY_RATE`]; raid1 engine only
    /// (dm-raid `max_recovery_rate`, GDS's copy delay).
    pub copy_rate: Option<Bytes>,
    /// Where the volume is declared.
    pub span: Span,
}

/// Highest accepted `copy_rate`: 1 TiB per second per disk (dm-raid takes the rate
/// in KiB/s as a C `int`; 2^30 KiB stays well inside it).
pub const MAX_COPY_RATE: Bytes = Bytes(1 << 40);

/// State of a proxy relative to its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyState {
    /// Kept in sync as an extra leg.
    Joined,
    /// Split off: a point-in-time copy.
    Parted,
}

/// How a proxy copy is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CopyMode {
    /// Copied by the kernel (dm-raid resync).
    #[default]
    Software,
    /// Storage-array copy offload (ETERNUS Advanced Copy); gated by S5/S6.
    Offload,
}

/// Snapshot kind with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotKind {
    /// dm-snapshot copy-on-write.
    Cow {
        /// Size of the COW store.
        size: Bytes,
        /// Chunk size.
        chunk: Bytes,
    },
    /// GDS proxy volume in another group.
    Proxy {
        /// Group holding the proxy.
        on: Located<Name>,
        /// Joined or parted.
        state: ProxyState,
        /// Copy mode.
        copy: CopyMode,
    },
}

/// A snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Snapshot name.
    pub name: Name,
    /// The origin (master) volume.
    pub origin: Located<Name>,
    /// Kind.
    pub kind: SnapshotKind,
    /// Where the snapshot is declared.
    pub span: Span,
}
