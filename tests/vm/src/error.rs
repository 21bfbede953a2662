//! The harness's error type.

use std::path::PathBuf;

/// Anything that can go wrong while building the image or driving a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The image builder failed or could not be started.
    #[error("cannot build the VM image with `{command}`:\n{detail}")]
    Image {
        /// The command that was run.
        command: String,
        /// Its stderr, or why it could not run.
        detail: String,
    },
    /// A host-side I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// QEMU exited while the harness still needed it.
    #[error(
        "QEMU exited ({status}) while {what}; QEMU stderr: {stderr_log}, console: {console_log}"
    )]
    QemuExited {
        /// Exit status as text.
        status: String,
        /// What the harness was waiting for.
        what: String,
        /// QEMU's stderr file.
        stderr_log: PathBuf,
        /// Serial console log.
        console_log: PathBuf,
    },
    /// Something did not happen in time.
    #[error("timed out after {secs} s waiting for {what} (console: {console_log})")]
    Timeout {
        /// What the harness was waiting for.
        what: String,
        /// The limit, seconds.
        secs: u64,
        /// Serial console log.
        console_log: PathBuf,
    },
    /// QEMU answered a QMP command with an error.
    #[error("QMP `{command}` failed: {message}")]
    Qmp {
        /// The command.
        command: String,
        /// QEMU's error description (or the protocol problem).
        message: String,
    },
    /// The guest agent sent something the harness does not understand.
    #[error("guest agent protocol error: {0}")]
    Protocol(String),
    /// The VM description is unusable.
    #[error("invalid VM spec: {0}")]
    Spec(String),
    /// The operation needs a running VM.
    #[error("VM `{0}` is not running")]
    NotRunning(String),
}

impl VmError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        VmError::Io {
            what: what.into(),
            source,
        }
    }
}
