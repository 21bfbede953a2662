//! The crate's error type.

/// Errors of dmclass-rules. The embedded matrix is data: if it does not load, callers get
/// this error (and `dmclass rules` / `check` report it) instead of a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// `rules.yaml` is not valid YAML for the [`crate::Matrix`] schema.
    #[error("embedded support matrix rules.yaml does not parse: {message}")]
    MatrixParse {
        /// serde_yaml's message, with line and column.
        message: String,
    },
    /// `rules.yaml` parses but is inconsistent.
    #[error("embedded support matrix rules.yaml: entry {entry}: {reason}")]
    MatrixInvalid {
        /// Row, note or hint id.
        entry: String,
        /// What is wrong.
        reason: String,
    },
}
