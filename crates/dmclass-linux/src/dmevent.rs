//! Waiting for device-mapper events without busy polling, for `dmclass monitor`.
//!
//! dm raises an event (`dm_table_event`: a raid leg failed, a resync finished, a
//! mirror leg died) by bumping the device's event counter; it is not a uevent
//! (lvm_dm.md §3.1). This uses the poll interface of `/dev/mapper/control`
//! (dm-ioctl ≥ 4.37): `DM_DEV_ARM_POLL`, then `poll(2)` on the control fd wakes on
//! the next event of any device; `DM_LIST_DEVICES` then tells which counters moved.
//! Arming before reading the counters means an event between the two is never lost
//! (it wakes the poll at once).

use crate::error::LinuxError;
use devicemapper::DM;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::Duration;

/// A waiter on dm events of devices whose name starts with a prefix.
pub struct DmEvents {
    dm: DM,
    prefix: String,
    seen: BTreeMap<String, u32>,
}

impl std::fmt::Debug for DmEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmEvents")
            .field("prefix", &self.prefix)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

fn err(action: &'static str, e: impl std::fmt::Display) -> LinuxError {
    LinuxError::DmEvent {
        action,
        reason: e.to_string(),
    }
}

impl DmEvents {
    /// Open `/dev/mapper/control`; events of devices named `prefix*` are reported.
    pub fn new(prefix: &str) -> Result<Self, LinuxError> {
        let dm = DM::new().map_err(|e| LinuxError::NoDeviceMapper {
            reason: format!("cannot open /dev/mapper/control for dm events: {e}"),
        })?;
        let mut me = DmEvents {
            dm,
            prefix: prefix.to_owned(),
            seen: BTreeMap::new(),
        };
        me.seen = me.counters()?;
        Ok(me)
    }

    fn counters(&self) -> Result<BTreeMap<String, u32>, LinuxError> {
        let list = self.dm.list_devices().map_err(|e| err("list devices", e))?;
        let mut out = BTreeMap::new();
        for (name, _, nr) in list {
            let name = name.to_string();
            if !name.starts_with(&self.prefix) {
                continue;
            }
            let Some(nr) = nr else {
                return Err(err(
                    "read event counters",
                    "the kernel's dm-ioctl is older than 4.37 (no event_nr in DM_LIST_DEVICES)",
                ));
            };
            out.insert(name, nr);
        }
        Ok(out)
    }

    /// Names of devices whose event counter moved (or that appeared) since the last
    /// call, waiting up to `timeout` for one; empty after a timeout.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<String>, LinuxError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            self.dm.arm_poll().map_err(|e| err("arm the poll", e))?;
            let now = self.counters()?;
            let moved: Vec<String> = now
                .iter()
                .filter(|(n, nr)| self.seen.get(*n) != Some(*nr))
                .map(|(n, _)| n.clone())
                .collect();
            self.seen = now;
            if !moved.is_empty() {
                return Ok(moved);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.dm.file().as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(err("poll", e)),
            }
        }
    }
}
