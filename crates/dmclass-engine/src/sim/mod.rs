//! Simulated kernel and disks (docs/architecture.md, like stratisd's SimEngine): the planner,
//! executor and CLI run end to end on a machine without device-mapper.
//!
//! [`new_sim`] returns a [`SimKernel`] and a [`SimDisks`] that share one in-memory world:
//! the kernel validates tables against the disks that exist, and data written through
//! a dm device ([`SimKernel::write_dev`]) lands on the simulated disks through the live
//! tables (linear, striped, raid1, mirror), so tests can checksum it per disk.
//!
//! What is simulated, and how closely:
//! * ioctl semantics: create (suspended, no table), load (inactive slot), resume (swap),
//!   remove (EBUSY while opened or held by another table), EEXIST / ENXIO / EINVAL;
//! * table validation as the kernel's constructors do it (syntax, devices present,
//!   areas inside the device, lines contiguous from 0, raid1 rmeta "superblocks");
//! * raid1 / mirror health: a leg on a failed or unplugged disk is `D`, writes skip it,
//!   regions written meanwhile are remembered and copied back on the next resume once
//!   the disk is back (bitmap resync), so per-disk write counters show a just-resync;
//! * failpoints: disk writes stop after N (crash), kernel calls fail on demand.
//!
//! The world can be saved to a file and loaded back ([`save`], [`load`]), or built from
//! a facts document ([`world_from_facts`]), so separate CLI processes share one machine.
//!
//! Copy-on-write snapshots (sim/cow.rs): the persistent COW format of dm-snap-persistent.c is kept on
//! the COW device itself (header chunk, exception areas, data chunks), so snapshots
//! survive deactivate, reboot and save/load like the kernel's. A `snapshot-origin`
//! write copies the old chunk to every snapshot of the origin first; a full store
//! invalidates the snapshot (status `Invalid`), never the origin; `snapshot-merge`
//! copies back when resumed (or on [`SimKernel::run_merges`] while merges are held).

mod bitmap;
mod cow;
mod data;
mod disks;
mod kernel;
mod pages;
mod persist;
mod status;
mod table;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cow;
#[cfg(test)]
mod tests_data;
#[cfg(test)]
mod tests_persist;

pub use data::EAGAIN;
pub use disks::SimDisks;
pub use disks::ENOENT;
pub use kernel::SimKernel;
pub use persist::{load, save, world_from_facts, FORMAT_VERSION};
pub use table::KNOWN_TARGETS;

use crate::io::{DevNum, IoError, Visibility};
use dmclass_model::Bytes;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use table::Table;

/// errno: I/O error.
pub const EIO: i32 = 5;
/// errno: no such device or address.
pub const ENXIO: i32 = 6;
/// errno: device or resource busy.
pub const EBUSY: i32 = 16;
/// errno: file exists.
pub const EEXIST: i32 = 17;
/// errno: no such device.
pub const ENODEV: i32 = 19;
/// errno: invalid argument.
pub const EINVAL: i32 = 22;
/// errno: read-only file system (write to a read-only table).
pub const EROFS: i32 = 30;

/// Major number of simulated dm devices (what most distributions get for device-mapper).
pub const DM_MAJOR: u32 = 253;

/// Size of a sparse storage page of a simulated disk.
pub(crate) const PAGE: usize = 4096;

/// A simulated kernel and disks sharing one world.
pub fn new_sim() -> (SimKernel, SimDisks) {
    let world = Rc::new(RefCell::new(World::default()));
    (
        SimKernel::from_world(Rc::clone(&world)),
        SimDisks::from_world(world),
    )
}

/// An error carrying an errno.
pub(crate) fn errno_err(
    op: &'static str,
    object: impl Into<String>,
    errno: i32,
    message: impl Into<String>,
) -> IoError {
    IoError {
        op,
        object: object.into(),
        errno: Some(errno),
        message: message.into(),
    }
}

/// A write failpoint closure: (path, byte offset, length) -> fail?
pub(crate) type WriteHook = Box<dyn FnMut(&Path, Bytes, usize) -> bool>;

/// Decides whether a disk write fails (crash simulation).
pub(crate) enum WriteFailpoint {
    /// This many more writes succeed, then every write fails.
    After(u64),
    /// Fail a write when the closure says so (path, byte offset, length).
    Hook(WriteHook),
}

/// A one-shot kernel failure: the next matching call fails with `errno`.
pub(crate) struct KernelFailpoint {
    pub(crate) op: String,
    pub(crate) matches: Box<dyn Fn(&str) -> bool>,
    pub(crate) errno: i32,
}

/// One simulated disk.
pub(crate) struct DiskState {
    pub(crate) devnum: DevNum,
    pub(crate) size: Bytes,
    /// Written pages by index; an absent page reads as zeroes.
    pub(crate) pages: HashMap<u64, Box<[u8; PAGE]>>,
    /// False while hot-unplugged.
    pub(crate) attached: bool,
    /// Every I/O fails with EIO (a dead disk that is still present).
    pub(crate) failed: bool,
    pub(crate) bytes_written: u64,
    pub(crate) writes: u64,
}

/// Runtime state of a raid1 / mirror line: which legs failed and what they missed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Redundancy {
    /// Leg failed an I/O (sticky until a resume finds it healthy again).
    pub(crate) dead: Vec<bool>,
    /// Regions written while some leg was dead or absent (the write-intent bitmap).
    pub(crate) dirty: std::collections::BTreeSet<u64>,
    /// A rebuild of every non-primary leg is due at the next resume.
    pub(crate) full_resync: bool,
}

/// One simulated dm device.
pub(crate) struct DmDev {
    pub(crate) uuid: String,
    pub(crate) devnum: DevNum,
    /// Openers outside the dm stack (a mount, a test holding it open).
    pub(crate) external_opens: u32,
    pub(crate) suspended: bool,
    pub(crate) live: Option<Table>,
    pub(crate) inactive: Option<Table>,
    pub(crate) event_nr: u32,
    pub(crate) visibility: Option<Visibility>,
    /// Per live line (same index), for raid1 and mirror lines.
    pub(crate) redundancy: Vec<Redundancy>,
    /// Sync progress override `(done, total)` set by a test; `None` = in sync.
    pub(crate) sync: Option<(u64, u64)>,
    /// Mismatch count reported after a `check`.
    pub(crate) mismatches: u64,
}

/// A device a table can refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Disk(PathBuf),
    Dm(String),
}

/// Everything the simulated kernel and disks share.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) disks: BTreeMap<PathBuf, DiskState>,
    /// Other paths of a disk (`/dev/disk/by-id/...` -> `/dev/vda`), like udev's links.
    pub(crate) aliases: BTreeMap<PathBuf, PathBuf>,
    pub(crate) dm: BTreeMap<String, DmDev>,
    pub(crate) next_minor: u32,
    pub(crate) write_fail: Option<WriteFailpoint>,
    pub(crate) kernel_fail: Vec<KernelFailpoint>,
    pub(crate) settles: u64,
    /// Merges started by a `snapshot-merge` resume wait for [`SimKernel::run_merges`]
    /// (otherwise they complete during the resume).
    pub(crate) hold_merges: bool,
}

impl World {
    /// The disk path an alias stands for; any other path unchanged.
    pub(crate) fn resolve<'a>(&'a self, path: &'a Path) -> &'a Path {
        self.aliases.get(path).map_or(path, PathBuf::as_path)
    }

    /// The device behind a device number (an unplugged disk still resolves).
    pub(crate) fn node(&self, dev: DevNum) -> Option<Node> {
        if dev.major == DM_MAJOR {
            return self
                .dm
                .iter()
                .find(|(_, d)| d.devnum == dev)
                .map(|(n, _)| Node::Dm(n.clone()));
        }
        self.disks
            .iter()
            .find(|(_, d)| d.devnum == dev)
            .map(|(p, _)| Node::Disk(p.clone()))
    }

    /// Size in sectors of a device a new table may use: `None` when it does not exist
    /// (an unplugged disk does not). A dm device without a live table has size 0.
    pub(crate) fn usable_size(&self, dev: DevNum) -> Option<u64> {
        match self.node(dev)? {
            Node::Disk(p) => {
                let d = self.disks.get(&p)?;
                d.attached.then_some(d.size.0 / 512)
            }
            Node::Dm(n) => Some(self.dm.get(&n).map_or(0, DmDev::size_sectors)),
        }
    }

    /// The dm device behind a path: `/dev/mapper/<name>` or `/dev/dm-<minor>`.
    pub(crate) fn dm_by_path(&self, path: &Path) -> Option<String> {
        let s = path.to_str()?;
        if let Some(name) = s.strip_prefix("/dev/mapper/") {
            return self.dm.contains_key(name).then(|| name.to_string());
        }
        let minor: u32 = s.strip_prefix("/dev/dm-")?.parse().ok()?;
        self.node(DevNum {
            major: DM_MAJOR,
            minor,
        })
        .and_then(|n| match n {
            Node::Dm(name) => Some(name),
            Node::Disk(_) => None,
        })
    }

    /// True when every disk under `dev` (through live tables) is present and working.
    pub(crate) fn healthy(&self, dev: DevNum, depth: u32) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.node(dev) {
            None => false,
            Some(Node::Disk(p)) => self.disks.get(&p).is_some_and(|d| d.attached && !d.failed),
            Some(Node::Dm(n)) => self.dm.get(&n).is_some_and(|d| {
                d.live.as_ref().is_some_and(|t| {
                    t.maps
                        .iter()
                        .flat_map(table::Mapping::strict_devs)
                        .all(|c| self.healthy(c, depth + 1))
                })
            }),
        }
    }

    /// How many dm devices hold `dev` through a live or inactive table.
    pub(crate) fn holders(&self, dev: DevNum) -> u32 {
        let mut n = 0;
        for d in self.dm.values() {
            for t in [&d.live, &d.inactive].into_iter().flatten() {
                if t.devs().contains(&dev) {
                    n += 1;
                }
            }
        }
        n
    }
}

impl DmDev {
    /// Size of the live table in sectors.
    pub(crate) fn size_sectors(&self) -> u64 {
        self.live
            .as_ref()
            .and_then(|t| t.lines.last())
            .map_or(0, |l| l.start.0 + l.len.0)
    }
}

/// Deepest stack of dm devices the simulation follows (the kernel's limit is similar).
pub(crate) const MAX_DEPTH: u32 = 16;

/// Matches `text` against a glob with `*` (any run) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
