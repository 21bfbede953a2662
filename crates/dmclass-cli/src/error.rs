//! Errors of the command line, each mapped to an exit status.

use serde::Serialize;
use std::path::PathBuf;

/// One error as `check --json` and `plan --json` print it:
/// `{"message": "...", "location": "file:line:col"}` (`location` null when the error
/// has no place in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong (and what would be accepted).
    pub message: String,
    /// `file:line:col` in the configuration, when the error has one.
    pub location: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file named on the command line could not be read, or is larger than its cap
    /// (`dmclass_model::input`).
    #[error(transparent)]
    Input(#[from] dmclass_model::ModelError),
    /// A facts document is not valid.
    #[error("{path} is not a facts document (dmclass probe --json): {reason}")]
    Facts {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The rule table failed to load (a build defect).
    #[error(transparent)]
    Rules(#[from] dmclass_rules::RulesError),
    /// Probing the machine failed.
    #[error("probing this machine failed: {0}")]
    Probe(#[from] dmclass_linux::LinuxError),
    /// The engine refused or failed (planning, executing, assembling).
    #[error(transparent)]
    Engine(#[from] dmclass_engine::EngineError),
    /// The configuration was refused for these reasons (already printed on stderr).
    #[error("{summary}")]
    Invalid {
        /// One line: the file, how many reasons, what was left unchanged.
        summary: String,
        /// Every reason.
        problems: Vec<Problem>,
    },
    /// An EFI system partition could not be read, mounted or written (`esp sync`).
    #[error("{0}")]
    Esp(dmclass_linux::LinuxError),
    /// The request was refused; details were already printed.
    #[error("{0}")]
    Refused(String),
    /// Output could not be produced.
    #[error("cannot write output: {0}")]
    Output(String),
}

impl CliError {
    /// The reasons, for `--json`: each printed problem, or the error itself.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            CliError::Invalid { problems, .. } => problems.clone(),
            e => vec![Problem {
                message: e.to_string(),
                location: None,
            }],
        }
    }

    /// Exit status for this error: every error reaching here is a refusal or a
    /// failure (1); usage errors (2) are reported by clap before a command runs.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Read { .. }
            | CliError::Input(_)
            | CliError::Facts { .. }
            | CliError::Rules(_)
            | CliError::Probe(_)
            | CliError::Engine(_)
            | CliError::Invalid { .. }
            | CliError::Refused(_)
            | CliError::Esp(_)
            | CliError::Output(_) => 1,
        }
    }
}
