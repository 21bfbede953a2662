//! The crate's error type.

use std::io;

/// Everything that can stop a probe of the machine.
///
/// Per-disk trouble (a disk that cannot be opened for blkid, an unreadable sysfs file of
/// one disk) is not an error of the whole probe: it is recorded in that disk's facts and
/// logged, so one bad disk never hides the others.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// libudev could not be set up or could not enumerate devices.
    #[error("udev: cannot {action}: {source}")]
    Udev {
        /// What was being done (`enumerate block disks`, ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The kernel has no usable device-mapper (module not loaded, no control node).
    #[error("{reason}")]
    NoDeviceMapper {
        /// What is missing and what to do.
        reason: String,
    },
    /// Waiting for device-mapper events failed ([`crate::dmevent`]).
    #[error("device-mapper events: cannot {action}: {reason}")]
    DmEvent {
        /// What was being done (`arm the poll`, `list devices`, `poll`).
        action: &'static str,
        /// The kernel's or the library's reason.
        reason: String,
    },
    /// Reading, mounting or writing an EFI system partition ([`crate::esp`]).
    #[error("{what}: {reason}")]
    Esp {
        /// What was being done, naming the partition or file.
        what: String,
        /// The kernel's or the tool's reason.
        reason: String,
    },
    /// Freezing, mounting or writing a boot environment's files ([`crate::bootenv`]).
    #[error("{what}: {reason}")]
    BootEnv {
        /// What was being done, naming the file system or file.
        what: String,
        /// The kernel's reason.
        reason: String,
    },
}
