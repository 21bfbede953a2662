//! Simulated member disks: sparse in-memory block devices with hot-unplug, failure,
//! write counters and a crash failpoint.

use super::data::Buf;
use super::pages::{read_pages, write_pages};
use super::{errno_err, DiskState, SimKernel, World, WriteFailpoint, EEXIST, EINVAL, EIO};
use crate::io::{DevNum, Disks, IoError, IoResult};
use dmclass_model::Bytes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// errno: no such file or directory (a path that is no block device here).
pub const ENOENT: i32 = 2;

/// Simulated disks; clones share the same world (and the kernel's view of it).
#[derive(Clone)]
pub struct SimDisks {
    world: Rc<RefCell<World>>,
}

impl std::fmt::Debug for SimDisks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.world.borrow();
        f.debug_struct("SimDisks")
            .field("disks", &w.disks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn unknown(op: &'static str, path: &Path) -> IoError {
    errno_err(
        op,
        path.display().to_string(),
        ENOENT,
        "no such block device",
    )
}

impl SimDisks {
    pub(crate) fn from_world(world: Rc<RefCell<World>>) -> Self {
        SimDisks { world }
    }

    /// The shared world (persist.rs saves it).
    pub(crate) fn world(&self) -> &Rc<RefCell<World>> {
        &self.world
    }

    /// The simulated kernel of the same world.
    pub fn kernel(&self) -> SimKernel {
        SimKernel::from_world(Rc::clone(&self.world))
    }

    /// Adds a zero-filled disk (costs no memory until written). `size` must be a whole
    /// number of sectors; path and device number must be new.
    pub fn add_disk(
        &mut self,
        path: impl AsRef<Path>,
        devnum: DevNum,
        size: Bytes,
    ) -> IoResult<()> {
        let path = path.as_ref();
        let obj = path.display().to_string();
        let mut w = self.world.borrow_mut();
        if !size.0.is_multiple_of(512) || size.0 == 0 {
            return Err(errno_err(
                "add_disk",
                obj,
                EINVAL,
                "size is not a whole number of sectors",
            ));
        }
        if devnum.major == super::DM_MAJOR {
            return Err(errno_err(
                "add_disk",
                obj,
                EINVAL,
                "major 253 is device-mapper's",
            ));
        }
        if w.disks.contains_key(path)
            || w.aliases.contains_key(path)
            || w.disks.values().any(|d| d.devnum == devnum)
        {
            return Err(errno_err(
                "add_disk",
                obj,
                EEXIST,
                "path or device number in use",
            ));
        }
        w.disks.insert(
            path.to_path_buf(),
            DiskState {
                devnum,
                size,
                pages: HashMap::new(),
                attached: true,
                failed: false,
                bytes_written: 0,
                writes: 0,
            },
        );
        Ok(())
    }

    fn with_disk<T>(
        &self,
        op: &'static str,
        path: &Path,
        f: impl FnOnce(&mut DiskState) -> T,
    ) -> IoResult<T> {
        let mut w = self.world.borrow_mut();
        let path = w.resolve(path).to_path_buf();
        w.disks
            .get_mut(&path)
            .map(f)
            .ok_or_else(|| unknown(op, &path))
    }

    /// Makes `alias` another path of the disk at `target` (a udev link such as
    /// `/dev/disk/by-id/...`): every call taking a disk path accepts it. `target` may
    /// itself be an alias; `alias` must not name a disk or a dm device.
    pub fn add_alias(&mut self, alias: impl AsRef<Path>, target: impl AsRef<Path>) -> IoResult<()> {
        let alias = alias.as_ref();
        let mut w = self.world.borrow_mut();
        let target = w.resolve(target.as_ref()).to_path_buf();
        if !w.disks.contains_key(&target) {
            return Err(unknown("add_alias", &target));
        }
        let dm_path = alias.starts_with("/dev/mapper")
            || w.dm_by_path(alias).is_some()
            || alias.to_str().is_some_and(|s| s.starts_with("/dev/dm-"));
        let taken =
            w.disks.contains_key(alias) || w.aliases.get(alias).is_some_and(|t| *t != target);
        if dm_path || taken {
            return Err(errno_err(
                "add_alias",
                alias.display().to_string(),
                EEXIST,
                "path is a disk, a dm device or another disk's alias",
            ));
        }
        w.aliases.insert(alias.to_path_buf(), target);
        Ok(())
    }

    /// The disk path behind `path` (itself for a disk, the target for an alias);
    /// `None` when no disk has that path.
    pub fn resolve(&self, path: impl AsRef<Path>) -> Option<PathBuf> {
        let w = self.world.borrow();
        let p = w.resolve(path.as_ref());
        w.disks.contains_key(p).then(|| p.to_path_buf())
    }

    /// The aliases of the disk at `path`, sorted.
    pub fn aliases(&self, path: impl AsRef<Path>) -> Vec<PathBuf> {
        let w = self.world.borrow();
        let p = w.resolve(path.as_ref());
        w.aliases
            .iter()
            .filter(|(_, t)| t.as_path() == p)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Hot-unplugs a disk: its node disappears, I/O through tables that still hold it
    /// fails, new tables cannot use it. The data is kept for [`SimDisks::reattach`].
    pub fn remove_disk(&mut self, path: impl AsRef<Path>) -> IoResult<()> {
        self.with_disk("remove_disk", path.as_ref(), |d| d.attached = false)
    }

    /// Plugs a removed disk back in, with its data and device number.
    pub fn reattach(&mut self, path: impl AsRef<Path>) -> IoResult<()> {
        self.with_disk("reattach", path.as_ref(), |d| d.attached = true)
    }

    /// Marks a disk failed (every I/O returns EIO while present) or working again.
    pub fn set_failed(&mut self, path: impl AsRef<Path>, failed: bool) -> IoResult<()> {
        self.with_disk("set_failed", path.as_ref(), |d| d.failed = failed)
    }

    /// Bytes written to a disk since it was added or counters were reset.
    pub fn bytes_written(&self, path: impl AsRef<Path>) -> IoResult<Bytes> {
        self.with_disk("bytes_written", path.as_ref(), |d| Bytes(d.bytes_written))
    }

    /// Write requests that reached a disk since it was added or counters were reset.
    pub fn write_count(&self, path: impl AsRef<Path>) -> IoResult<u64> {
        self.with_disk("write_count", path.as_ref(), |d| d.writes)
    }

    /// 4 KiB pages that hold data (shows the storage stays sparse).
    pub fn pages_in_use(&self, path: impl AsRef<Path>) -> IoResult<usize> {
        self.with_disk("pages_in_use", path.as_ref(), |d| d.pages.len())
    }

    /// Resets every disk's write counters.
    pub fn reset_counters(&mut self) {
        for d in self.world.borrow_mut().disks.values_mut() {
            d.bytes_written = 0;
            d.writes = 0;
        }
    }

    /// Crash simulation: `n` more disk writes succeed, then every write fails with EIO
    /// (direct writes and writes mapped through dm devices alike).
    pub fn fail_after_writes(&mut self, n: u64) {
        self.world.borrow_mut().write_fail = Some(WriteFailpoint::After(n));
    }

    /// Fails each disk write for which `hook(path, offset, len)` returns true.
    pub fn fail_writes_if(&mut self, hook: impl FnMut(&Path, Bytes, usize) -> bool + 'static) {
        self.world.borrow_mut().write_fail = Some(WriteFailpoint::Hook(Box::new(hook)));
    }

    /// Removes the write failpoint.
    pub fn clear_failpoint(&mut self) {
        self.world.borrow_mut().write_fail = None;
    }

    /// Paths of every disk (attached or not).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.world.borrow().disks.keys().cloned().collect()
    }
}

/// Checks alignment and bounds of a request against a device of `size` bytes.
fn check_range(op: &'static str, obj: &str, off: u64, len: u64, size: u64) -> IoResult<()> {
    if !off.is_multiple_of(512) || !len.is_multiple_of(512) {
        return Err(errno_err(
            op,
            obj,
            EINVAL,
            format!("unaligned I/O: offset {off}, length {len}"),
        ));
    }
    if off.checked_add(len).is_none_or(|e| e > size) {
        return Err(errno_err(
            op,
            obj,
            EIO,
            format!("beyond end of device: offset {off}, length {len}, size {size}"),
        ));
    }
    Ok(())
}

impl World {
    /// Reads or writes a disk by path (sector aligned, bounds checked, failpoints).
    pub(crate) fn disk_io(&mut self, path: &Path, off: u64, buf: Buf<'_>) -> IoResult<()> {
        let path = &self.resolve(path).to_path_buf();
        let op = buf.op();
        let obj = path.display().to_string();
        let Some(disk) = self.disks.get(path) else {
            return Err(unknown(op, path));
        };
        if !disk.attached {
            return Err(errno_err(op, obj, EIO, "device unplugged"));
        }
        if disk.failed {
            return Err(errno_err(op, obj, EIO, "device failed"));
        }
        let len = buf.len() as u64;
        check_range(op, &obj, off, len, disk.size.0)?;
        if let Buf::W(_) = buf {
            let fail = match &mut self.write_fail {
                None => false,
                Some(WriteFailpoint::After(0)) => true,
                Some(WriteFailpoint::After(n)) => {
                    *n -= 1;
                    false
                }
                Some(WriteFailpoint::Hook(h)) => h(path, Bytes(off), buf.len()),
            };
            if fail {
                return Err(errno_err(op, obj, EIO, "failpoint: write refused"));
            }
        }
        let Some(disk) = self.disks.get_mut(path) else {
            return Err(unknown(op, path));
        };
        match buf {
            Buf::R(out) => read_pages(disk, off, out),
            Buf::W(data) => {
                write_pages(disk, off, data);
                disk.bytes_written += len;
                disk.writes += 1;
            }
        }
        Ok(())
    }
}

impl SimDisks {
    /// Routes a path to a disk or, for `/dev/mapper/<name>` and `/dev/dm-N`, through the
    /// dm stack.
    fn route(&self, path: &Path, off: u64, buf: Buf<'_>) -> IoResult<()> {
        let mut w = self.world.borrow_mut();
        match w.dm_by_path(path) {
            Some(name) => {
                let size = w.dm.get(&name).map_or(0, super::DmDev::size_sectors) * 512;
                check_range(buf.op(), &name, off, buf.len() as u64, size)?;
                w.dm_io(&name, off, buf, 0)
            }
            // Opening an unplugged disk by path fails like a missing node.
            None if w.disks.get(w.resolve(path)).is_some_and(|d| !d.attached) => {
                Err(unknown(buf.op(), path))
            }
            None => w.disk_io(path, off, buf),
        }
    }
}

impl Disks for SimDisks {
    fn read(&self, dev: &Path, offset: Bytes, len: usize) -> IoResult<Vec<u8>> {
        let mut out = vec![0u8; len];
        self.route(dev, offset.0, Buf::R(&mut out))?;
        Ok(out)
    }

    fn write(&mut self, dev: &Path, offset: Bytes, data: &[u8]) -> IoResult<()> {
        self.route(dev, offset.0, Buf::W(data))
    }

    fn zero(&mut self, dev: &Path, offset: Bytes, len: Bytes) -> IoResult<()> {
        const CHUNK: u64 = 1 << 20;
        let zeros = vec![0u8; 1 << 20];
        let mut done = 0;
        while done < len.0 {
            let n = (len.0 - done).min(CHUNK);
            let n_usize = usize::try_from(n).unwrap_or(zeros.len());
            self.route(dev, offset.0 + done, Buf::W(&zeros[..n_usize]))?;
            done += n;
        }
        Ok(())
    }

    fn devnum(&self, dev: &Path) -> IoResult<DevNum> {
        let w = self.world.borrow();
        if let Some(name) = w.dm_by_path(dev) {
            if let Some(d) = w.dm.get(&name) {
                return Ok(d.devnum);
            }
        }
        match w.disks.get(w.resolve(dev)) {
            Some(d) if d.attached => Ok(d.devnum),
            _ => Err(unknown("stat", dev)),
        }
    }

    fn size(&self, dev: &Path) -> IoResult<Bytes> {
        let w = self.world.borrow();
        if let Some(name) = w.dm_by_path(dev) {
            if let Some(d) = w.dm.get(&name) {
                return Ok(Bytes(d.size_sectors() * 512));
            }
        }
        match w.disks.get(w.resolve(dev)) {
            Some(d) if d.attached => Ok(d.size),
            _ => Err(unknown("size", dev)),
        }
    }
}
