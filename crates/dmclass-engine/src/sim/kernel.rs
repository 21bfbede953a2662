//! The simulated device-mapper: a registry of dm devices with ioctl semantics, table
//! validation, status, messages, the data path and kernel failpoints.

use super::data::Buf;
use super::table::{parse_table, Mapping};
use super::{
    errno_err, glob_match, DmDev, KernelFailpoint, SimDisks, World, DM_MAJOR, EBUSY, EEXIST,
    EINVAL, ENXIO,
};
use crate::io::{DevNum, DmInfo, IoError, IoResult, Kernel, TargetLine, Visibility};
use dmclass_model::{Bytes, Sectors};
use std::cell::RefCell;
use std::rc::Rc;

/// The simulated kernel; clones share the same world (and the disks).
#[derive(Clone)]
pub struct SimKernel {
    world: Rc<RefCell<World>>,
}

impl std::fmt::Debug for SimKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.world.borrow();
        f.debug_struct("SimKernel")
            .field("devices", &w.dm.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn nxio(op: &'static str, name: &str) -> IoError {
    errno_err(op, name, ENXIO, "no such device")
}

fn info_of(w: &World, name: &str, d: &DmDev) -> DmInfo {
    DmInfo {
        name: name.to_string(),
        uuid: d.uuid.clone(),
        devnum: d.devnum,
        open_count: d.external_opens + w.holders(d.devnum),
        suspended: d.suspended,
        live_table: d.live.is_some(),
        inactive_table: d.inactive.is_some(),
        event_nr: d.event_nr,
    }
}

impl SimKernel {
    pub(crate) fn from_world(world: Rc<RefCell<World>>) -> Self {
        SimKernel { world }
    }

    /// The simulated disks of the same world.
    pub fn disks(&self) -> SimDisks {
        SimDisks::from_world(Rc::clone(&self.world))
    }

    /// Makes the next call of `op` (glob: `load`, `resume`, `*`) on a device whose name
    /// matches `name_glob` fail with `errno`. One-shot; several may be queued.
    pub fn fail_on(&mut self, op: &str, name_glob: &str, errno: i32) {
        let g = name_glob.to_string();
        self.fail_on_if(op, move |n| glob_match(&g, n), errno);
    }

    /// Like [`SimKernel::fail_on`] with a predicate on the device name (`""` for
    /// `list` and `settle`).
    pub fn fail_on_if(&mut self, op: &str, pred: impl Fn(&str) -> bool + 'static, errno: i32) {
        self.world.borrow_mut().kernel_fail.push(KernelFailpoint {
            op: op.to_string(),
            matches: Box::new(pred),
            errno,
        });
    }

    /// Drops every pending kernel failpoint.
    pub fn clear_fail_on(&mut self) {
        self.world.borrow_mut().kernel_fail.clear();
    }

    /// Consumes the first failpoint matching this call, as an error.
    fn check_fail(&self, op: &'static str, name: &str) -> IoResult<()> {
        let mut w = self.world.borrow_mut();
        let hit = w
            .kernel_fail
            .iter()
            .position(|f| glob_match(&f.op, op) && (f.matches)(name));
        match hit {
            Some(i) => {
                let f = w.kernel_fail.remove(i);
                Err(errno_err(op, name, f.errno, "injected failure"))
            }
            None => Ok(()),
        }
    }

    /// Reads `len` bytes at `offset` of a dm device through its live tables.
    pub fn read_dev(&self, name: &str, offset: Bytes, len: usize) -> IoResult<Vec<u8>> {
        let mut out = vec![0u8; len];
        self.dev_io(name, offset, Buf::R(&mut out))?;
        Ok(out)
    }

    /// Writes `data` at `offset` of a dm device through its live tables.
    pub fn write_dev(&mut self, name: &str, offset: Bytes, data: &[u8]) -> IoResult<()> {
        self.dev_io(name, offset, Buf::W(data))
    }

    fn dev_io(&self, name: &str, offset: Bytes, buf: Buf<'_>) -> IoResult<()> {
        let op = if matches!(buf, Buf::R(_)) {
            "read"
        } else {
            "write"
        };
        let len = buf.len() as u64;
        if !offset.0.is_multiple_of(512) || !len.is_multiple_of(512) {
            return Err(errno_err(op, name, EINVAL, "unaligned I/O"));
        }
        self.world.borrow_mut().dm_io(name, offset.0, buf, 0)
    }

    /// Sets the reported sync progress of a raid1 / mirror device (sectors per leg);
    /// `done == total` means in sync (and raises the "sync done" event).
    pub fn set_sync(&mut self, name: &str, done: Sectors, total: Sectors) -> IoResult<()> {
        let mut w = self.world.borrow_mut();
        let d = w.dm.get_mut(name).ok_or_else(|| nxio("set_sync", name))?;
        if done >= total {
            if d.sync.is_some() {
                d.event_nr += 1;
            }
            d.sync = None;
        } else {
            d.sync = Some((done.0, total.0));
        }
        Ok(())
    }

    /// Marks one leg of the device's first raid1 / mirror line failed, as an I/O error
    /// on it would (sticky until a resume finds its disks healthy).
    pub fn fail_leg(&mut self, name: &str, leg: usize) -> IoResult<()> {
        let mut w = self.world.borrow_mut();
        let d = w.dm.get_mut(name).ok_or_else(|| nxio("fail_leg", name))?;
        let line = d
            .live
            .as_ref()
            .and_then(|t| {
                t.maps
                    .iter()
                    .position(|m| matches!(m, Mapping::Raid1(_) | Mapping::Mirror(_)))
            })
            .ok_or_else(|| errno_err("fail_leg", name, EINVAL, "no raid1 or mirror line"))?;
        let red = d
            .redundancy
            .get_mut(line)
            .filter(|r| leg < r.dead.len())
            .ok_or_else(|| errno_err("fail_leg", name, EINVAL, "no such leg"))?;
        if !std::mem::replace(&mut red.dead[leg], true) {
            d.event_nr += 1;
        }
        Ok(())
    }

    /// Sets how many openers outside the dm stack hold the device (a mount, a process).
    pub fn set_open_count(&mut self, name: &str, n: u32) -> IoResult<()> {
        let mut w = self.world.borrow_mut();
        let d =
            w.dm.get_mut(name)
                .ok_or_else(|| nxio("set_open_count", name))?;
        d.external_opens = n;
        Ok(())
    }

    /// The udev visibility the device was last resumed with.
    pub fn visibility(&self, name: &str) -> Option<Visibility> {
        self.world.borrow().dm.get(name).and_then(|d| d.visibility)
    }

    /// How many times [`Kernel::settle`] was called.
    pub fn settle_count(&self) -> u64 {
        self.world.borrow().settles
    }

    /// While `hold` is true, a resumed `snapshot-merge` does not copy back until
    /// [`SimKernel::run_merges`] (status shows the merge running).
    pub fn hold_merges(&mut self, hold: bool) {
        self.world.borrow_mut().hold_merges = hold;
    }

    /// Completes every running `snapshot-merge` (copies the COW chunks back).
    pub fn run_merges(&mut self) -> IoResult<()> {
        self.world.borrow_mut().run_merges()
    }

    /// Power loss: every dm device vanishes, disks keep what was written, pending
    /// kernel failpoints are dropped.
    pub fn reboot(&mut self) {
        let mut w = self.world.borrow_mut();
        w.dm.clear();
        w.kernel_fail.clear();
        w.next_minor = 0;
    }

    /// `check`: counts sectors that differ between the first working leg and the
    /// others; `repair` also rewrites them from that leg.
    fn scrub(world: &mut World, name: &str, repair: bool) -> IoResult<u64> {
        let table = world.dm.get(name).and_then(|d| d.live.clone());
        let Some((line, legs)) = table.as_ref().and_then(|t| {
            t.lines.iter().zip(&t.maps).find_map(|(l, m)| match m {
                Mapping::Raid1(r) => {
                    Some((l, r.legs.iter().map(|g| g.data.map(|d| (d, 0))).collect()))
                }
                Mapping::Mirror(mi) => {
                    Some((l, mi.legs.iter().map(|&g| Some(g)).collect::<Vec<_>>()))
                }
                _ => None,
            })
        }) else {
            return Ok(0);
        };
        let good: Vec<(DevNum, u64)> = legs
            .into_iter()
            .flatten()
            .filter(|(d, _)| world.healthy(*d, 0))
            .collect();
        let Some((&src, rest)) = good.split_first() else {
            return Ok(0);
        };
        let mut mismatches = 0;
        let mut s = 0;
        while s < line.len.0 {
            let n = (line.len.0 - s).min(2048);
            let bytes = usize::try_from(n * 512).unwrap_or(0);
            let mut a = vec![0u8; bytes];
            world.node_io(src.0, (src.1 + s) * 512, Buf::R(&mut a), 0)?;
            for &(d, off) in rest {
                let mut b = vec![0u8; bytes];
                world.node_io(d, (off + s) * 512, Buf::R(&mut b), 0)?;
                let diff = a
                    .chunks(512)
                    .zip(b.chunks(512))
                    .filter(|(x, y)| x != y)
                    .count();
                mismatches += diff as u64;
                if repair && diff > 0 {
                    world.node_io(d, (off + s) * 512, Buf::W(&a), 0)?;
                }
            }
            s += n;
        }
        Ok(mismatches)
    }
}

impl Kernel for SimKernel {
    fn list(&self) -> IoResult<Vec<DmInfo>> {
        self.check_fail("list", "")?;
        let w = self.world.borrow();
        Ok(w.dm.iter().map(|(n, d)| info_of(&w, n, d)).collect())
    }

    fn info(&self, name: &str) -> IoResult<Option<DmInfo>> {
        self.check_fail("info", name)?;
        let w = self.world.borrow();
        Ok(w.dm.get(name).map(|d| info_of(&w, name, d)))
    }

    fn create(&mut self, name: &str, uuid: &str) -> IoResult<DmInfo> {
        self.check_fail("create", name)?;
        let mut w = self.world.borrow_mut();
        if name.is_empty() || name.len() > 127 || name.contains('/') || name == "." || name == ".."
        {
            return Err(errno_err("create", name, EINVAL, "invalid dm name"));
        }
        if uuid.len() > 128 {
            return Err(errno_err("create", name, EINVAL, "uuid too long"));
        }
        if w.dm.contains_key(name) {
            return Err(errno_err("create", name, EEXIST, "name already in use"));
        }
        if !uuid.is_empty() && w.dm.values().any(|d| d.uuid == uuid) {
            return Err(errno_err(
                "create",
                name,
                EBUSY,
                format!("uuid {uuid} already in use"),
            ));
        }
        let devnum = DevNum {
            major: DM_MAJOR,
            minor: w.next_minor,
        };
        w.next_minor += 1;
        let d = DmDev {
            uuid: uuid.to_string(),
            devnum,
            external_opens: 0,
            suspended: true,
            live: None,
            inactive: None,
            event_nr: 0,
            visibility: None,
            redundancy: Vec::new(),
            sync: None,
            mismatches: 0,
        };
        let info = info_of(&w, name, &d);
        w.dm.insert(name.to_string(), d);
        Ok(info)
    }

    fn load(&mut self, name: &str, table: &[TargetLine], read_only: bool) -> IoResult<()> {
        self.check_fail("load", name)?;
        let mut w = self.world.borrow_mut();
        let me = w.dm.get(name).ok_or_else(|| nxio("load", name))?.devnum;
        let t = parse_table(&w, me, table, read_only)
            .map_err(|(errno, msg)| errno_err("load", name, errno, msg))?;
        if let Some(d) = w.dm.get_mut(name) {
            d.inactive = Some(t);
        }
        Ok(())
    }

    fn suspend(&mut self, name: &str, _noflush: bool) -> IoResult<()> {
        self.check_fail("suspend", name)?;
        let mut w = self.world.borrow_mut();
        w.dm.get_mut(name)
            .ok_or_else(|| nxio("suspend", name))?
            .suspended = true;
        Ok(())
    }

    fn resume(&mut self, name: &str, visibility: Visibility) -> IoResult<()> {
        self.check_fail("resume", name)?;
        let mut w = self.world.borrow_mut();
        let d = w.dm.get_mut(name).ok_or_else(|| nxio("resume", name))?;
        let new = d.inactive.take();
        let was_suspended = std::mem::replace(&mut d.suspended, false);
        d.visibility = Some(visibility);
        if let Some(t) = new {
            let old = d.live.take();
            let mut carried = std::mem::take(&mut d.redundancy);
            let mut red = Vec::with_capacity(t.maps.len());
            for (i, m) in t.maps.iter().enumerate() {
                let same = old
                    .as_ref()
                    .and_then(|o| o.maps.get(i))
                    .is_some_and(|o| same_shape(o, m));
                match carried.get_mut(i) {
                    Some(r) if same => red.push(std::mem::take(r)),
                    _ => red.push(w.fresh_redundancy(m)),
                }
            }
            let d = w.dm.get_mut(name).ok_or_else(|| nxio("resume", name))?;
            d.live = Some(t);
            d.redundancy = red;
            d.sync = None;
        } else if !was_suspended {
            return Ok(());
        }
        w.resync_on_resume(name);
        w.snapshot_resume(name);
        Ok(())
    }

    fn remove(&mut self, name: &str) -> IoResult<()> {
        self.check_fail("remove", name)?;
        let mut w = self.world.borrow_mut();
        let d = w.dm.get(name).ok_or_else(|| nxio("remove", name))?;
        let open = info_of(&w, name, d).open_count;
        if open > 0 {
            return Err(errno_err(
                "remove",
                name,
                EBUSY,
                format!("device is open ({open} openers)"),
            ));
        }
        w.dm.remove(name);
        Ok(())
    }

    fn table(&self, name: &str) -> IoResult<Vec<TargetLine>> {
        self.check_fail("table", name)?;
        let w = self.world.borrow();
        let d = w.dm.get(name).ok_or_else(|| nxio("table", name))?;
        Ok(d.live.as_ref().map(|t| t.lines.clone()).unwrap_or_default())
    }

    fn status(&self, name: &str) -> IoResult<Vec<TargetLine>> {
        self.check_fail("status", name)?;
        let mut w = self.world.borrow_mut();
        let snap = w.snapshot_status(name);
        let d = w.dm.get(name).ok_or_else(|| nxio("status", name))?;
        let mut lines = w.status_lines(d);
        for (l, s) in lines.iter_mut().zip(snap) {
            if let Some(s) = s {
                l.params = s;
            }
        }
        Ok(lines)
    }

    fn message(&mut self, name: &str, msg: &str) -> IoResult<Option<String>> {
        self.check_fail("message", name)?;
        let mut w = self.world.borrow_mut();
        let d = w.dm.get(name).ok_or_else(|| nxio("message", name))?;
        let is_raid = d
            .live
            .as_ref()
            .is_some_and(|t| t.maps.iter().any(|m| matches!(m, Mapping::Raid1(_))));
        if !is_raid {
            return Err(errno_err(
                "message",
                name,
                EINVAL,
                "target does not take messages",
            ));
        }
        let idle = d.sync.is_none();
        match msg.trim() {
            "resync" | "recover" | "check" | "repair" if !idle => {
                Err(errno_err("message", name, EBUSY, "sync action is not idle"))
            }
            "idle" | "frozen" | "resync" | "recover" => Ok(None),
            m @ ("check" | "repair") => {
                let n = Self::scrub(&mut w, name, m == "repair")?;
                if let Some(d) = w.dm.get_mut(name) {
                    d.mismatches = n;
                    d.event_nr += 1;
                }
                Ok(None)
            }
            other => Err(errno_err(
                "message",
                name,
                EINVAL,
                format!("unknown message {other:?}"),
            )),
        }
    }

    fn settle(&mut self) -> IoResult<()> {
        self.check_fail("settle", "")?;
        self.world.borrow_mut().settles += 1;
        Ok(())
    }

    /// The simulated udev is instant: a path is there when its device is live.
    fn wait_public_paths(
        &mut self,
        names: &[String],
        _timeout: std::time::Duration,
    ) -> IoResult<Vec<String>> {
        self.check_fail("settle", "")?;
        let w = self.world.borrow();
        Ok(names
            .iter()
            .filter(|n| w.dm.get(n.as_str()).is_none_or(|d| d.live.is_none()))
            .map(|n| format!("/dev/mapper/{n}"))
            .collect())
    }
}

/// Whether a reload keeps a line's leg state (same target kind and leg count).
fn same_shape(a: &Mapping, b: &Mapping) -> bool {
    match (a, b) {
        (Mapping::Raid1(x), Mapping::Raid1(y)) => x.legs.len() == y.legs.len(),
        (Mapping::Mirror(x), Mapping::Mirror(y)) => x.legs.len() == y.legs.len(),
        _ => false,
    }
}
