//! What a failed device-mapper ioctl means, as an [`IoError`] with a hint for the
//! errno. Below both ioctl layers: [`crate::dm`] (the `devicemapper` crate's ioctls)
//! and [`crate::dmraw`] (the raw no-wait resume and remove) report errors the same way.

use dmclass_engine::io::IoError;

/// What an errno usually means for a dm operation (appended to the message).
pub fn errno_hint(op: &str, errno: Option<i32>) -> Option<&'static str> {
    match (op, errno?) {
        (_, nix::libc::ENXIO) => Some("no such dm device"),
        ("create", nix::libc::EBUSY) => Some("a dm device with this name or UUID exists"),
        ("remove", nix::libc::EBUSY) => {
            Some("the device is open: mounted, or used by another device")
        }
        (_, nix::libc::EBUSY) => Some("device busy"),
        ("load", nix::libc::EINVAL) => Some("the kernel refused the table; see `dmesg`"),
        (_, nix::libc::EACCES | nix::libc::EPERM) => Some("device-mapper needs root"),
        _ => None,
    }
}

/// The error of dm operation `op` on `object`: `text` says what failed, followed by
/// the errno's [hint](errno_hint) when there is one; the errno is kept so callers can
/// tell EBUSY, ENXIO, EEXIST... apart.
pub fn io_error(op: &'static str, object: &str, errno: Option<i32>, text: String) -> IoError {
    IoError {
        op,
        object: object.to_owned(),
        errno,
        message: match errno_hint(op, errno) {
            Some(hint) => format!("{text} ({hint})"),
            None => text,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_hints_tell_busy_absent_and_existing_apart() {
        use nix::libc::{EBUSY, EINVAL, ENXIO};
        assert_eq!(errno_hint("info", Some(ENXIO)), Some("no such dm device"));
        assert!(errno_hint("create", Some(EBUSY))
            .unwrap()
            .contains("exists"));
        assert!(errno_hint("remove", Some(EBUSY)).unwrap().contains("open"));
        assert!(errno_hint("load", Some(EINVAL)).unwrap().contains("dmesg"));
        assert_eq!(errno_hint("load", None), None);
    }

    #[test]
    fn the_hint_follows_the_text_and_the_errno_is_kept() {
        let e = io_error(
            "remove",
            "dmclass-c-v",
            Some(nix::libc::EBUSY),
            "busy".into(),
        );
        assert_eq!((e.op, e.object.as_str()), ("remove", "dmclass-c-v"));
        assert_eq!(e.errno, Some(nix::libc::EBUSY));
        assert!(
            e.message.starts_with("busy (") && e.message.contains("open"),
            "{e}"
        );
        let e = io_error("table", "d", None, "no such table".into());
        assert_eq!(e.message, "no such table");
    }
}
