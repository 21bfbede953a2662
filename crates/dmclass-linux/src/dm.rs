//! The real device-mapper [`Kernel`], over the `devicemapper` crate's ioctls.
//!
//! # udev synchronisation and the hang it can cause
//!
//! When `/run/udev/control` exists, the `devicemapper` crate runs LVM's cookie protocol
//! on resume and remove: it creates a SysV semaphore, passes its cookie to the kernel and
//! then **waits without a timeout** until udev's `95-dm-notify.rules` runs
//! `dmsetup udevcomplete <cookie>` (devicemapper-rs#858). If udev never gets there
//! (rules missing, udevd wedged, a container that has `/run/udev/control` but no
//! udevd), the call would hang forever. So [`LinuxKernel`] runs those two ioctls on a
//! helper thread and gives up after [`LinuxKernel::udev_timeout`] (30 s by default) with
//! an `ETIMEDOUT` error saying so; the thread is left behind (it holds its own control
//! descriptor and ends if udev ever confirms) and the semaphore stays allocated until
//! then (`dmsetup udevcomplete_all` releases it). Without `/run/udev/control` nothing
//! waits and the ioctl runs inline.
//!
//! # Batch mode (the default): one udev wait per command
//!
//! A wait per device doubles the cost of activating many devices (measured in the
//! issue: `dmsetup create` of 1000 devices with udev sync 147 s, without 43 s plus one
//! `udevadm settle`). So by default resume and remove go through [`crate::dmraw`]:
//! same ioctls, the udev flags in the cookie (hidden layers still skip the disk and
//! other rules), no semaphore, no wait. The engine calls [`Kernel::settle`] at the end
//! of a command; should it not, dropping the kernel settles once if any event is
//! outstanding, so a command never returns before its links exist.
//! [`LinuxKernel::with_udev_wait_per_device`] (or `DMCLASS_UDEV_WAIT=per-device`)
//! restores the crate's per-device waits.

use crate::error::LinuxError;
use crate::{dmerror, dmraw};
use devicemapper::{errors, DevId, DeviceInfo, DmError, DmFlags, DmName, DmOptions, DmUuid, DM};
use dmclass_engine::io::{
    DevNum, DmInfo, IoError, IoResult, Kernel, PartitionDev, TargetLine, Visibility,
};
use dmclass_model::Sectors;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// The device-mapper control node.
pub const CONTROL: &str = "/dev/mapper/control";
/// udev's control socket: present when udevd runs (the crate's test for cookie waits).
pub const UDEV_CONTROL: &str = "/run/udev/control";
/// Longest target type (the kernel's 16 bytes with the NUL).
pub const TARGET_TYPE_MAX: usize = 15;
/// Environment variable: `per-device` makes [`LinuxKernel::new`] wait for udev after
/// every resume/remove (the crate's protocol) instead of batching; for measuring the
/// difference and as a fallback should batching ever misbehave.
pub const UDEV_WAIT_ENV: &str = "DMCLASS_UDEV_WAIT";
/// Default bound on a udev-synchronised ioctl and on `udevadm settle`.
pub const UDEV_TIMEOUT: Duration = Duration::from_secs(30);

/// The kernel's device-mapper, through `/dev/mapper/control`.
pub struct LinuxKernel {
    dm: DM,
    udev_timeout: Duration,
    /// Wait for udev after every resume/remove (the crate's cookie protocol).
    per_device_wait: bool,
    /// Resumes/removes issued in batch mode since the last settle.
    unsettled: usize,
    /// Running inside a udev worker: never wait for udev (it would wait for itself).
    in_udev: bool,
    /// A handle made by [`Kernel::worker`]: its owner settles, not it.
    is_worker: bool,
}

impl std::fmt::Debug for LinuxKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxKernel")
            .field("udev_timeout", &self.udev_timeout)
            .field("per_device_wait", &self.per_device_wait)
            .field("unsettled", &self.unsettled)
            .finish_non_exhaustive()
    }
}

impl LinuxKernel {
    /// Open the device-mapper control node.
    pub fn new() -> Result<Self, LinuxError> {
        if !Path::new(CONTROL).exists() {
            return Err(LinuxError::NoDeviceMapper {
                reason: "this kernel has no device-mapper (no /dev/mapper/control); load dm-mod"
                    .into(),
            });
        }
        let dm = DM::new().map_err(|e| LinuxError::NoDeviceMapper {
            reason: format!("cannot open {CONTROL}: {}", dm_message(&e)),
        })?;
        Ok(LinuxKernel {
            dm,
            udev_timeout: UDEV_TIMEOUT,
            per_device_wait: std::env::var(UDEV_WAIT_ENV).is_ok_and(|v| v == "per-device"),
            unsettled: 0,
            in_udev: false,
            is_worker: false,
        })
    }

    /// For a command run by a udev rule (`RUN+=`): resumes and removes never wait for
    /// udev and `settle` does nothing, since udev is busy with this very event until
    /// the command ends; the links appear once it has.
    #[must_use]
    pub fn within_udev_worker(mut self) -> Self {
        self.in_udev = true;
        self.per_device_wait = false;
        self
    }

    /// Wait for udev after every resume and remove (`true`), or issue them without a
    /// wait and settle once (`false`, the default; module doc).
    #[must_use]
    pub fn with_udev_wait_per_device(mut self, per_device: bool) -> Self {
        self.per_device_wait = per_device;
        self
    }

    /// Whether every resume/remove waits for udev.
    pub fn udev_wait_per_device(&self) -> bool {
        self.per_device_wait
    }

    /// Resumes and removes issued without a udev wait since the last settle.
    pub fn unsettled(&self) -> usize {
        self.unsettled
    }

    /// Use another bound for udev-synchronised ioctls and `settle` (whole seconds for
    /// `udevadm settle`, at least 1).
    #[must_use]
    pub fn with_udev_timeout(mut self, timeout: Duration) -> Self {
        self.udev_timeout = timeout;
        self
    }

    /// The bound on udev-synchronised ioctls.
    pub fn udev_timeout(&self) -> Duration {
        self.udev_timeout
    }

    /// The kernel's device-mapper interface version (major, minor, patch).
    pub fn version(&self) -> IoResult<(u32, u32, u32)> {
        self.dm
            .version()
            .map_err(|e| dm_err("version", CONTROL, &e))
    }

    /// Run an ioctl that may wait for a udev cookie, bounded (module doc).
    fn udev_bounded<T: Send + 'static>(
        &self,
        op: &'static str,
        name: &str,
        f: impl FnOnce(&DM) -> IoResult<T> + Send + 'static,
    ) -> IoResult<T> {
        if !Path::new(UDEV_CONTROL).exists() {
            return f(&self.dm);
        }
        let object = name.to_owned();
        run_bounded(op, name, self.udev_timeout, move || {
            let dm = DM::new().map_err(|e| dm_err(op, &object, &e))?;
            f(&dm)
        })
    }
}

/// Run `f` on a helper thread; if it has not finished after `timeout`, return an
/// `ETIMEDOUT` error and leave the thread behind (module doc).
pub fn run_bounded<T: Send + 'static>(
    op: &'static str,
    object: &str,
    timeout: Duration,
    f: impl FnOnce() -> IoResult<T> + Send + 'static,
) -> IoResult<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("dmclass-{op}"))
        .spawn(move || {
            // The receiver is gone after a timeout: nothing left to tell.
            let _ = tx.send(f());
        })
        .map_err(|e| IoError {
            op,
            object: object.to_owned(),
            errno: e.raw_os_error(),
            message: format!("cannot start a helper thread: {e}"),
        })?;
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(IoError {
            op,
            object: object.to_owned(),
            errno: Some(nix::libc::ETIMEDOUT),
            message: format!(
                "no answer after {} s: the kernel most likely did it but udev did not \
                 confirm the event (is systemd-udevd running with 95-dm-notify.rules?); \
                 `dmsetup udevcomplete_all` releases the wait",
                timeout.as_secs()
            ),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(IoError::new(
            op,
            object,
            "the helper thread ended without an answer",
        )),
    }
}

/// Check a table before it reaches `table_load` (which `assert!`s on long target types)
/// and convert it to the crate's tuples.
pub fn table_tuples(name: &str, table: &[TargetLine]) -> IoResult<Vec<(u64, u64, String, String)>> {
    let bad = |m: String| IoError::new("load", name, m);
    if table.is_empty() {
        return Err(bad("empty table".into()));
    }
    table
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let t = &l.target;
            if t.is_empty() || t.len() > TARGET_TYPE_MAX {
                return Err(bad(format!(
                    "line {i}: target type {t:?} must be 1 to {TARGET_TYPE_MAX} bytes"
                )));
            }
            if !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(format!(
                    "line {i}: target type {t:?} is not plain ASCII"
                )));
            }
            if l.params.contains('\0') {
                return Err(bad(format!("line {i}: parameters contain a NUL byte")));
            }
            if l.len.0 == 0 {
                return Err(bad(format!("line {i}: zero length")));
            }
            Ok((l.start.0, l.len.0, t.clone(), l.params.clone()))
        })
        .collect()
}

fn dm_name<'a>(op: &'static str, name: &'a str) -> IoResult<&'a DmName> {
    DmName::new(name).map_err(|e| dm_err(op, name, &e))
}

/// The errno inside a failed ioctl, if that is what failed.
fn dm_errno(e: &DmError) -> Option<i32> {
    match e {
        DmError::Core(errors::Error::Ioctl(_, _, _, errno)) => Some(**errno as i32),
        _ => None,
    }
}

/// A short message: the ioctl error text (the crate's own Display dumps both headers).
fn dm_message(e: &DmError) -> String {
    match e {
        DmError::Core(errors::Error::Ioctl(_, _, _, errno)) => errno.to_string(),
        other => other.to_string(),
    }
}

/// Map a `DmError` to an [`IoError`], errno kept (EBUSY, ENXIO, EEXIST... distinguishable).
pub fn dm_err(op: &'static str, object: &str, e: &DmError) -> IoError {
    dmerror::io_error(op, object, dm_errno(e), dm_message(e))
}

fn dm_info(fallback_name: &str, i: &DeviceInfo) -> DmInfo {
    let flags = i.flags();
    let dev = i.device();
    DmInfo {
        name: i
            .name()
            .map_or_else(|| fallback_name.to_owned(), ToString::to_string),
        uuid: i.uuid().map(ToString::to_string).unwrap_or_default(),
        devnum: DevNum {
            major: dev.major,
            minor: dev.minor,
        },
        // A count the kernel should never report (negative) must not read as "not
        // open": callers refuse changes to open devices, so fail closed.
        open_count: u32::try_from(i.open_count()).unwrap_or(u32::MAX),
        suspended: flags.contains(DmFlags::DM_SUSPEND),
        live_table: flags.contains(DmFlags::DM_ACTIVE_PRESENT),
        inactive_table: flags.contains(DmFlags::DM_INACTIVE_PRESENT),
        event_nr: i.event_nr(),
    }
}

/// The partitions of whole disk `disk` from sysfs (`/sys/dev/block/M:N/<part>/`:
/// `start` and `size` in 512-byte sectors whatever the disk's sector size, `dev`). An
/// entry that does not read cleanly is left out: its range then stays on the whole
/// disk, which is correct, only less friendly to mounts.
pub fn partitions_in(root: &crate::sysroot::SysRoot, disk: DevNum) -> Vec<PartitionDev> {
    let dir = format!("/sys/dev/block/{}:{}", disk.major, disk.minor);
    root.list_dir(&dir)
        .into_iter()
        .filter(|e| root.exists(format!("{dir}/{e}/partition")))
        .filter_map(|e| {
            let num = |a: &str| {
                root.read_trimmed(format!("{dir}/{e}/{a}"))?
                    .parse::<u64>()
                    .ok()
            };
            let dev = root.read_trimmed(format!("{dir}/{e}/dev"))?;
            let (major, minor) = dev.split_once(':')?;
            Some(PartitionDev {
                start: Sectors(num("start")?),
                len: Sectors(num("size")?),
                dev: DevNum {
                    major: major.parse().ok()?,
                    minor: minor.parse().ok()?,
                },
            })
        })
        .collect()
}

fn lines(v: Vec<(u64, u64, String, String)>) -> Vec<TargetLine> {
    v.into_iter()
        .map(|(start, len, target, params)| TargetLine {
            start: Sectors(start),
            len: Sectors(len),
            target,
            params,
        })
        .collect()
}

/// Keep every page of this process in memory from the first suspend on (LVM's
/// `memlock`): a suspended device may hold the root file system and this binary, and
/// a page fault that reads from it would wait for a resume only this process can
/// give. `mlockall(MCL_CURRENT | MCL_FUTURE)` once per process; a failure (no
/// `CAP_IPC_LOCK` and a small `RLIMIT_MEMLOCK`) is logged, not fatal: the suspend of a
/// device that holds none of our files is safe without it.
fn lock_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use nix::sys::mman::{mlockall, MlockAllFlags};
        if let Err(e) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
            log::warn!(
                "cannot lock dmclass in memory ({e}): suspending a device that holds the root \
                 file system could stall this process"
            );
        }
    });
}

impl Kernel for LinuxKernel {
    fn list(&self) -> IoResult<Vec<DmInfo>> {
        let devs = self
            .dm
            .list_devices()
            .map_err(|e| dm_err("list", CONTROL, &e))?;
        let mut out = Vec::with_capacity(devs.len());
        for (name, _, _) in devs {
            // A device removed between the list and the info is simply gone.
            if let Some(info) = self.info(&name.to_string())? {
                out.push(info);
            }
        }
        Ok(out)
    }

    fn info(&self, name: &str) -> IoResult<Option<DmInfo>> {
        let id = DevId::Name(dm_name("info", name)?);
        match self.dm.device_info(&id) {
            Ok(i) => Ok(Some(dm_info(name, &i))),
            Err(e) if dm_errno(&e) == Some(nix::libc::ENXIO) => Ok(None),
            Err(e) => Err(dm_err("info", name, &e)),
        }
    }

    fn create(&mut self, name: &str, uuid: &str) -> IoResult<DmInfo> {
        let n = dm_name("create", name)?;
        let u = if uuid.is_empty() {
            None
        } else {
            Some(DmUuid::new(uuid).map_err(|e| dm_err("create", name, &e))?)
        };
        self.dm
            .device_create(n, u, DmOptions::default())
            .map(|i| dm_info(name, &i))
            .map_err(|e| dm_err("create", name, &e))
    }

    fn load(&mut self, name: &str, table: &[TargetLine], read_only: bool) -> IoResult<()> {
        let tuples = table_tuples(name, table)?;
        let id = DevId::Name(dm_name("load", name)?);
        let flags = if read_only {
            DmFlags::DM_READONLY
        } else {
            DmFlags::empty()
        };
        self.dm
            .table_load(&id, &tuples, DmOptions::default().set_flags(flags))
            .map(|_| ())
            .map_err(|e| dm_err("load", name, &e))
    }

    fn suspend(&mut self, name: &str, noflush: bool) -> IoResult<()> {
        let id = DevId::Name(dm_name("suspend", name)?);
        lock_memory();
        let mut flags = DmFlags::DM_SUSPEND;
        if noflush {
            flags |= DmFlags::DM_NOFLUSH;
        }
        // Suspend never waits for udev (the crate skips the cookie with DM_SUSPEND).
        self.dm
            .device_suspend(&id, DmOptions::default().set_flags(flags))
            .map(|_| ())
            .map_err(|e| dm_err("suspend", name, &e))
    }

    fn resume(&mut self, name: &str, visibility: Visibility) -> IoResult<()> {
        dm_name("resume", name)?;
        if visibility.is_public() {
            // before the uevent: the rule then imports it instead of running dmclass
            let dir = Path::new(crate::udev_names::IMPORT_DIR);
            let copy = visibility == Visibility::Copy;
            if let Err(e) = crate::udev_names::write_import_file(dir, name, copy) {
                log::debug!("{name}: no udev import file in {}: {e}", dir.display());
            }
        }
        if !self.per_device_wait {
            let flags = match visibility {
                Visibility::Public | Visibility::Copy => dmraw::PUBLIC_FLAGS,
                Visibility::Private => dmraw::PRIVATE_FLAGS,
            };
            dmraw::resume(self.dm.file(), name, flags)?;
            self.unsettled += 1;
            return Ok(());
        }
        let options = match visibility {
            Visibility::Public | Visibility::Copy => DmOptions::default(),
            Visibility::Private => DmOptions::private(),
        };
        let owned = name.to_owned();
        self.udev_bounded("resume", name, move |dm| {
            let id = DevId::Name(dm_name("resume", &owned)?);
            dm.device_suspend(&id, options)
                .map(|_| ())
                .map_err(|e| dm_err("resume", &owned, &e))
        })
    }

    fn remove(&mut self, name: &str) -> IoResult<()> {
        dm_name("remove", name)?;
        crate::udev_names::remove_import_file(Path::new(crate::udev_names::IMPORT_DIR), name);
        if !self.per_device_wait {
            dmraw::remove(self.dm.file(), name, dmraw::PUBLIC_FLAGS)?;
            self.unsettled += 1;
            return Ok(());
        }
        let owned = name.to_owned();
        self.udev_bounded("remove", name, move |dm| {
            let id = DevId::Name(dm_name("remove", &owned)?);
            dm.device_remove(&id, DmOptions::default())
                .map(|_| ())
                .map_err(|e| dm_err("remove", &owned, &e))
        })
    }

    fn table(&self, name: &str) -> IoResult<Vec<TargetLine>> {
        let id = DevId::Name(dm_name("table", name)?);
        self.dm
            .table_status(
                &id,
                DmOptions::default().set_flags(DmFlags::DM_STATUS_TABLE),
            )
            .map(|(_, t)| lines(t))
            .map_err(|e| dm_err("table", name, &e))
    }

    fn status(&self, name: &str) -> IoResult<Vec<TargetLine>> {
        let id = DevId::Name(dm_name("status", name)?);
        self.dm
            .table_status(&id, DmOptions::default())
            .map(|(_, t)| lines(t))
            .map_err(|e| dm_err("status", name, &e))
    }

    fn message(&mut self, name: &str, msg: &str) -> IoResult<Option<String>> {
        if msg.contains('\0') {
            return Err(IoError::new("message", name, "message contains a NUL byte"));
        }
        let id = DevId::Name(dm_name("message", name)?);
        self.dm
            .target_msg(&id, None, msg)
            .map(|(_, out)| out)
            .map_err(|e| dm_err("message", name, &e))
    }

    fn partitions(&self, disk: DevNum) -> Vec<PartitionDev> {
        partitions_in(&crate::sysroot::SysRoot::new("/"), disk)
    }

    fn worker(&self) -> Option<Box<dyn Kernel + Send>> {
        // a handle of its own: ioctls on separate descriptors run side by side
        let dm = DM::new().ok()?;
        Some(Box::new(LinuxKernel {
            dm,
            udev_timeout: self.udev_timeout,
            per_device_wait: self.per_device_wait,
            unsettled: 0,
            in_udev: self.in_udev,
            is_worker: true,
        }))
    }

    fn settle(&mut self) -> IoResult<()> {
        if self.in_udev {
            self.unsettled = 0;
            return Ok(());
        }
        settle(self.udev_timeout)?;
        self.unsettled = 0;
        Ok(())
    }

    fn wait_public_paths(&mut self, names: &[String], timeout: Duration) -> IoResult<Vec<String>> {
        if self.in_udev || !Path::new(UDEV_CONTROL).exists() {
            return Ok(Vec::new()); // nothing would make them, or udev waits for us
        }
        Ok(crate::udev_names::wait_paths(names, timeout))
    }
}

impl Drop for LinuxKernel {
    /// A command that issued events without waiting settles before it ends.
    fn drop(&mut self) {
        if self.unsettled > 0 && !self.in_udev && !self.is_worker {
            if let Err(e) = settle(self.udev_timeout) {
                log::warn!("settling udev after {} events: {e}", self.unsettled);
            }
        }
    }
}

/// `udevadm settle --timeout=<s>` when udev runs (`/run/udev/control`) and `udevadm`
/// is installed; otherwise nothing to wait for.
pub fn settle(timeout: Duration) -> IoResult<()> {
    if !Path::new(UDEV_CONTROL).exists() {
        return Ok(());
    }
    let Some(udevadm) = [
        "/usr/bin/udevadm",
        "/bin/udevadm",
        "/sbin/udevadm",
        "/usr/sbin/udevadm",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists()) else {
        log::debug!("udev runs but udevadm is not installed: not settling");
        return Ok(());
    };
    let secs = timeout.as_secs().max(1);
    let out = Command::new(udevadm)
        .arg("settle")
        .arg(format!("--timeout={secs}"))
        .output()
        .map_err(|e| IoError {
            op: "settle",
            object: udevadm.display().to_string(),
            errno: e.raw_os_error(),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(IoError::new(
            "settle",
            "udev",
            format!(
                "udevadm settle --timeout={secs} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(target: &str, params: &str) -> TargetLine {
        TargetLine {
            start: Sectors(0),
            len: Sectors(8),
            target: target.into(),
            params: params.into(),
        }
    }

    #[test]
    fn partitions_are_read_from_sysfs_and_bad_entries_left_out() {
        use crate::sysroot::testutil::TempTree;
        let t = TempTree::new("parts");
        let d = "/sys/dev/block/259:0";
        t.write(&format!("{d}/nvme0n1p1/partition"), "1\n");
        t.write(&format!("{d}/nvme0n1p1/start"), "2048\n");
        t.write(&format!("{d}/nvme0n1p1/size"), "131072\n");
        t.write(&format!("{d}/nvme0n1p1/dev"), "259:1\n");
        t.write(&format!("{d}/nvme0n1p2/partition"), "2\n");
        t.write(&format!("{d}/nvme0n1p2/start"), "garbage\n");
        t.write(&format!("{d}/nvme0n1p2/size"), "8\n");
        t.write(&format!("{d}/nvme0n1p2/dev"), "259:2\n");
        t.mkdir(&format!("{d}/queue"));
        let root = crate::sysroot::SysRoot::new(t.path());
        let parts = partitions_in(
            &root,
            DevNum {
                major: 259,
                minor: 0,
            },
        );
        assert_eq!(
            parts,
            vec![PartitionDev {
                start: Sectors(2048),
                len: Sectors(131_072),
                dev: DevNum {
                    major: 259,
                    minor: 1
                },
            }]
        );
        assert!(partitions_in(&root, DevNum { major: 8, minor: 0 }).is_empty());
    }

    #[test]
    fn tables_are_checked_before_the_ioctl() {
        let ok = table_tuples("d", &[line("linear", "7:0 2048")]).unwrap();
        assert_eq!(ok, vec![(0, 8, "linear".into(), "7:0 2048".into())]);
        assert!(table_tuples("d", &[line(&"x".repeat(15), "")]).is_ok());
        for (bad, why) in [
            (line(&"x".repeat(16), ""), "1 to 15 bytes"),
            (line("", ""), "1 to 15 bytes"),
            (line("lin ear", ""), "plain ASCII"),
            (line("linéar", ""), "plain ASCII"),
            (line("linear", "a\0b"), "NUL"),
        ] {
            let e = table_tuples("d", &[bad]).unwrap_err();
            assert_eq!((e.op, e.object.as_str()), ("load", "d"));
            assert!(e.message.contains(why), "{e}");
        }
        let mut zero = line("zero", "");
        zero.len = Sectors(0);
        assert!(table_tuples("d", &[zero]).is_err());
        assert!(table_tuples("d", &[]).is_err());
    }

    #[test]
    fn non_ioctl_errors_have_no_errno() {
        let e = DmName::new(&"n".repeat(200)).unwrap_err();
        let io = dm_err("create", "n", &e);
        assert_eq!(io.errno, None);
        assert!(io.message.contains("200"), "{io}");
    }

    #[test]
    fn bounded_runs_return_in_time_or_time_out() {
        let v = run_bounded("resume", "d", Duration::from_secs(5), || Ok(42)).unwrap();
        assert_eq!(v, 42);
        let e = run_bounded("resume", "d", Duration::from_secs(5), || {
            Err::<(), _>(IoError::new("resume", "d", "inner"))
        })
        .unwrap_err();
        assert_eq!(e.message, "inner");
        let start = std::time::Instant::now();
        let e = run_bounded("remove", "dmclass-c-v", Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(3));
            Ok(())
        })
        .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(e.errno, Some(nix::libc::ETIMEDOUT));
        assert_eq!((e.op, e.object.as_str()), ("remove", "dmclass-c-v"));
        assert!(e.message.contains("udevcomplete_all"), "{e}");
    }

    #[test]
    fn new_explains_a_kernel_without_device_mapper() {
        match LinuxKernel::new() {
            Ok(k) => {
                // A machine with device-mapper: the control node answers.
                assert!(Path::new(CONTROL).exists());
                assert_eq!(k.udev_timeout(), UDEV_TIMEOUT);
            }
            Err(e) => {
                let text = e.to_string();
                if Path::new(CONTROL).exists() {
                    assert!(text.contains("cannot open"), "{text}");
                } else {
                    assert!(text.contains("no /dev/mapper/control"), "{text}");
                    assert!(text.contains("dm-mod"), "{text}");
                }
            }
        }
    }
}
