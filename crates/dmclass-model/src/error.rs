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
}
