//! Resume and remove without a udev wait (batch mode of [`crate::LinuxKernel`]).
//!
//! The `devicemapper` crate runs the udev cookie protocol on every resume and remove
//! while udev runs: one SysV semaphore and one wait per device, so activating N
//! devices costs N udev round trips in sequence. LVM2 instead passes the cookie flags
//! and waits once per command. These two ioctls do what `dmsetup --noudevsync` /
//! libdevmapper without sync support do: the `DM_UDEV_*` flags (with
//! `DM_UDEV_PRIMARY_SOURCE_FLAG`, so 55-dm.rules takes the event as genuine — links,
//! blkid, later coldplug — and the DISABLE flags of hidden layers still apply) go in
//! the flag half of `event_nr`, with a zero cookie base: no semaphore is created, no
//! one waits, and the caller settles udev once at the end ([`crate::dm::settle`]).

use devicemapper_sys::{
    dm_ioctl, DM_DEV_REMOVE_CMD, DM_DEV_SUSPEND_CMD, DM_IOCTL, DM_NAME_LEN,
    DM_UDEV_DISABLE_DISK_RULES_FLAG, DM_UDEV_DISABLE_OTHER_RULES_FLAG,
    DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG, DM_UDEV_FLAGS_SHIFT, DM_UDEV_PRIMARY_SOURCE_FLAG,
};
use dmclass_engine::io::{IoError, IoResult};
use std::fs::File;
use std::os::fd::AsRawFd;

nix::ioctl_readwrite!(
    /// `DM_DEV_SUSPEND` (a resume when `DM_SUSPEND_FLAG` is clear).
    dm_dev_suspend,
    DM_IOCTL,
    DM_DEV_SUSPEND_CMD,
    dm_ioctl
);
nix::ioctl_readwrite!(
    /// `DM_DEV_REMOVE`.
    dm_dev_remove,
    DM_IOCTL,
    DM_DEV_REMOVE_CMD,
    dm_ioctl
);

/// udev flags of a user-visible device: only "this event is ours".
pub const PUBLIC_FLAGS: u32 = DM_UDEV_PRIMARY_SOURCE_FLAG;
/// udev flags of a hidden layer (`_rimage_N`, `-real`, ...): no subsystem, disk
/// (blkid, by-id links) or other rules; /dev/mapper link only.
pub const PRIVATE_FLAGS: u32 = DM_UDEV_PRIMARY_SOURCE_FLAG
    | DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG
    | DM_UDEV_DISABLE_DISK_RULES_FLAG
    | DM_UDEV_DISABLE_OTHER_RULES_FLAG;

/// The `event_nr` of a no-wait resume/remove: flags, zero cookie base.
pub fn event_nr(udev_flags: u32) -> u32 {
    (udev_flags & 0xffff) << DM_UDEV_FLAGS_SHIFT
}

/// A header for a by-name ioctl (interface version 4.0.0: both ioctls are that old).
fn header(op: &'static str, name: &str, udev_flags: u32) -> IoResult<dm_ioctl> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= DM_NAME_LEN as usize || bytes.contains(&0) {
        return Err(IoError::new(
            op,
            name,
            format!("not a dm name (1 to {} bytes, no NUL)", DM_NAME_LEN - 1),
        ));
    }
    let size = u32::try_from(std::mem::size_of::<dm_ioctl>()).unwrap_or(u32::MAX);
    let mut hdr = dm_ioctl {
        version: [4, 0, 0],
        data_size: size,
        data_start: size,
        event_nr: event_nr(udev_flags),
        ..Default::default()
    };
    for (dst, src) in hdr.name.iter_mut().zip(bytes) {
        *dst = std::ffi::c_char::from_ne_bytes([*src]);
    }
    Ok(hdr)
}

fn errno_err(op: &'static str, name: &str, e: nix::errno::Errno) -> IoError {
    crate::dmerror::io_error(op, name, Some(e as i32), e.desc().to_string())
}

/// Resume `name` (swap in its inactive table) without waiting for udev.
pub fn resume(control: &File, name: &str, udev_flags: u32) -> IoResult<()> {
    let mut hdr = header("resume", name, udev_flags)?;
    // SAFETY: `hdr` is a valid dm_ioctl whose data_size is its own size, so the kernel
    // reads and writes only inside it; the descriptor is /dev/mapper/control.
    unsafe { dm_dev_suspend(control.as_raw_fd(), &raw mut hdr) }
        .map(|_| ())
        .map_err(|e| errno_err("resume", name, e))
}

/// Remove `name` without waiting for udev.
pub fn remove(control: &File, name: &str, udev_flags: u32) -> IoResult<()> {
    let mut hdr = header("remove", name, udev_flags)?;
    // SAFETY: as in `resume`.
    unsafe { dm_dev_remove(control.as_raw_fd(), &raw mut hdr) }
        .map(|_| ())
        .map_err(|e| errno_err("remove", name, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_nr_carries_flags_and_no_cookie() {
        assert_eq!(event_nr(PUBLIC_FLAGS), 0x40 << 16);
        assert_eq!(event_nr(PRIVATE_FLAGS), (0x40 | 0x2 | 0x4 | 0x8) << 16);
        // the cookie base (low half) stays zero: nothing for udev to complete
        assert_eq!(event_nr(PRIVATE_FLAGS) & 0xffff, 0);
        assert_eq!(event_nr(0x1_0040), 0x40 << 16);
    }

    #[test]
    fn header_names_the_device_and_refuses_bad_names() {
        let h = header("resume", "dmclass-c-v_rmeta_0", PRIVATE_FLAGS).unwrap();
        let name: Vec<u8> = h
            .name
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| c.to_ne_bytes()[0])
            .collect();
        assert_eq!(name, b"dmclass-c-v_rmeta_0");
        assert_eq!(h.version, [4, 0, 0]);
        assert_eq!(h.flags, 0, "no DM_SUSPEND flag: this is a resume");
        assert_eq!(h.data_size as usize, std::mem::size_of::<dm_ioctl>());
        assert_eq!(h.event_nr, event_nr(PRIVATE_FLAGS));
        for bad in ["", "a\0b", &"n".repeat(128)] {
            let e = header("remove", bad, 0).unwrap_err();
            assert_eq!(e.op, "remove");
            assert!(e.message.contains("not a dm name"), "{e}");
        }
        assert!(header("remove", &"n".repeat(127), 0).is_ok());
    }

    #[test]
    fn ioctls_on_a_non_dm_descriptor_fail_with_errno() {
        // /dev/null does not know dm ioctls: ENOTTY, reported with op and name
        let f = File::open("/dev/null").unwrap();
        let e = resume(&f, "dmclass-c-v", PUBLIC_FLAGS).unwrap_err();
        assert_eq!((e.op, e.object.as_str()), ("resume", "dmclass-c-v"));
        assert!(e.errno.is_some());
        let e = remove(&f, "dmclass-c-v", PUBLIC_FLAGS).unwrap_err();
        assert_eq!(e.op, "remove");
    }
}
