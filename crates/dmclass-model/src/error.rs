//! The crate's error enum for single values (sizes, names). Whole-file problems are
//! reported as [`crate::Diagnostics`], which carry positions.

/// A value that does not follow the configuration's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A size that does not parse or overflows.
    #[error("invalid size `{given}`: {reason}")]
    InvalidSize {
        /// The text given.
        given: String,
        /// Why it was refused.
        reason: String,
    },
    /// A class, disk, group, volume or snapshot name that breaks the naming rule.
    #[error("invalid name `{given}`: {reason}")]
    InvalidName {
        /// The text given.
        given: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file read from outside is larger than dmclass reads for it.
    #[error("{}: larger than {cap} bytes ({}), the most dmclass reads for this file; nothing was done", .path.display(), describe_cap(*.cap))]
    TooLarge {
        /// The file.
        path: std::path::PathBuf,
        /// The cap, in bytes.
        cap: u64,
    },
    /// A file read from outside could not be read.
    #[error("cannot read {}: {reason}", .path.display())]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error or why the contents are not text.
        reason: String,
        /// The OS error number, when the system refused.
        errno: Option<i32>,
    },
}

/// A cap in words (`1 MiB`, `64 KiB`), for [`ModelError::TooLarge`]'s message.
pub fn describe_cap(cap: u64) -> String {
    match cap {
        c if c >= 1 << 20 && c % (1 << 20) == 0 => format!("{} MiB", c >> 20),
        c if c >= 1 << 10 && c % (1 << 10) == 0 => format!("{} KiB", c >> 10),
        c => format!("{c} B"),
    }
}
