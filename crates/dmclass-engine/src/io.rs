//! The two small traits the engine drives: the device-mapper kernel interface and raw
//! disk I/O. `dmclass-linux` implements them for real; [`crate::sim`] (simulated kernel
//! and disks) implements them in memory so the planner, executor and CLI can be tested
//! on any machine (stratisd's SimEngine beside StratEngine is the model).

use dmclass_model::{Bytes, Sectors};
use std::fmt;
use std::path::Path;

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevNum {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// One line of a device-mapper table or status, fully rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLine {
    /// First sector covered.
    pub start: Sectors,
    /// Sectors covered.
    pub len: Sectors,
    /// Target type (`raid`, `linear`, ...), at most 15 bytes.
    pub target: String,
    /// Parameters (table) or status text.
    pub params: String,
}

/// What the kernel says about one dm device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmInfo {
    /// dm name.
    pub name: String,
    /// dm UUID (empty when none).
    pub uuid: String,
    /// Device number.
    pub devnum: DevNum,
    /// How many openers hold it.
    pub open_count: u32,
    /// Suspended.
    pub suspended: bool,
    /// A live table is loaded.
    pub live_table: bool,
    /// An inactive table is loaded (waiting for resume).
    pub inactive_table: bool,
    /// Event counter (bumped by dm_table_event: failures, sync done).
    pub event_nr: u32,
}

/// Whether udev rules should treat a device as user-visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// A volume the admin uses: `/dev/mapper`, `/dev/dmclass/...`, blkid scan.
    Public,
    /// A hidden layer (`_rimage_N`, `_rmeta_N`, `-real`, `-cow`): no disk/other rules.
    Private,
    /// A point-in-time copy of another volume (a cow snapshot, a parted proxy):
    /// public, but its file system carries the original's UUID and label, so its
    /// `/dev/disk/by-uuid` and by-label links yield to the original's (`root=UUID=`
    /// must find the system, never a copy of it).
    Copy,
}

impl Visibility {
    /// Whether udev's disk rules see it (public or a copy).
    pub fn is_public(self) -> bool {
        self != Visibility::Private
    }
}

/// A failed kernel or disk operation, with what was being done to what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {object}: {message}")]
pub struct IoError {
    /// Operation (`create`, `load`, `resume`, `read`, `write`, ...).
    pub op: &'static str,
    /// Device name or path.
    pub object: String,
    /// errno when the failure came from a system call.
    pub errno: Option<i32>,
    /// Human-readable reason.
    pub message: String,
}

impl IoError {
    /// An error without errno.
    pub fn new(op: &'static str, object: impl Into<String>, message: impl Into<String>) -> Self {
        IoError {
            op,
            object: object.into(),
            errno: None,
            message: message.into(),
        }
    }
}

/// Result of an I/O trait call.
pub type IoResult<T> = std::result::Result<T, IoError>;

/// The device-mapper interface (ioctls with udev synchronisation in the real one).
pub trait Kernel {
    /// Every dm device on the system.
    fn list(&self) -> IoResult<Vec<DmInfo>>;
    /// One device by name, `None` when absent.
    fn info(&self, name: &str) -> IoResult<Option<DmInfo>>;
    /// Create an empty (suspended, tableless) device.
    fn create(&mut self, name: &str, uuid: &str) -> IoResult<DmInfo>;
    /// Load a table into the inactive slot.
    fn load(&mut self, name: &str, table: &[TargetLine], read_only: bool) -> IoResult<()>;
    /// Suspend (flushing unless `noflush`).
    fn suspend(&mut self, name: &str, noflush: bool) -> IoResult<()>;
    /// Resume: swaps in an inactive table; visibility sets the udev flags.
    fn resume(&mut self, name: &str, visibility: Visibility) -> IoResult<()>;
    /// Remove the device.
    fn remove(&mut self, name: &str) -> IoResult<()>;
    /// The live table, as the kernel reports it.
    fn table(&self, name: &str) -> IoResult<Vec<TargetLine>>;
    /// The target status lines.
    fn status(&self, name: &str) -> IoResult<Vec<TargetLine>>;
    /// Send a target message (`idle`, `check`, ...).
    fn message(&mut self, name: &str, msg: &str) -> IoResult<Option<String>>;
    /// Wait until udev has processed every event we caused.
    fn settle(&mut self) -> IoResult<()>;
    /// Wait, at most `timeout`, until the user-visible paths of the public devices
    /// `names` exist (`/dev/mapper/<name>` and `/dev/dmclass/<class>/<volume>`
    /// resolving to the device); returns the paths still missing. A backend without
    /// udev (or running inside a udev worker) does not wait and returns none.
    fn wait_public_paths(
        &mut self,
        names: &[String],
        timeout: std::time::Duration,
    ) -> IoResult<Vec<String>> {
        let _ = (names, timeout);
        Ok(Vec::new())
    }
    /// Another handle on the same kernel for a worker thread (activation starts
    /// volumes in parallel), or `None` when this backend runs one thing at a time.
    /// A worker never waits for udev at its end: the handle that made it settles.
    fn worker(&self) -> Option<Box<dyn Kernel + Send>> {
        None
    }
    /// The partitions the kernel shows on whole disk `disk` ([`PartitionDev`]). Tables
    /// map a range that lies inside one onto the partition, never the whole disk: a
    /// dm device holding a whole disk keeps every partition of it from being mounted
    /// (a root class's ESP at `/boot/efi`). A backend without partitions (the
    /// simulator) returns none, and tables keep the whole disk.
    fn partitions(&self, disk: DevNum) -> Vec<PartitionDev> {
        let _ = disk;
        Vec::new()
    }
}

/// One partition of a whole disk, as the kernel shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionDev {
    /// First sector on the whole disk.
    pub start: Sectors,
    /// Length.
    pub len: Sectors,
    /// Its own device number.
    pub dev: DevNum,
}

/// Raw access to member disks (the real one uses O_DIRECT and flushes).
pub trait Disks {
    /// Read `len` bytes at `offset`.
    fn read(&self, dev: &Path, offset: Bytes, len: usize) -> IoResult<Vec<u8>>;
    /// Write `data` at `offset` and make it durable before returning.
    fn write(&mut self, dev: &Path, offset: Bytes, data: &[u8]) -> IoResult<()>;
    /// Write zeroes over a range and make it durable.
    fn zero(&mut self, dev: &Path, offset: Bytes, len: Bytes) -> IoResult<()>;
    /// Device number of a block device path.
    fn devnum(&self, dev: &Path) -> IoResult<DevNum>;
    /// Size of the device.
    fn size(&self, dev: &Path) -> IoResult<Bytes>;
}
