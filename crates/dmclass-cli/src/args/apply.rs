//! Arguments of `dmclass apply`.

use clap::Args;
use dmclass_model::Environment;
use std::path::PathBuf;

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The YAML configuration.
    pub file: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow removing volumes that are missing from the file.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Assume this environment instead of the detected one.
    #[arg(long, value_name = "ENV")]
    pub env: Option<Environment>,
    /// Return as soon as the devices are up, without waiting (up to 60 s) for udev
    /// to create /dev/dmclass/CLASS/VOLUME.
    #[arg(long)]
    pub no_udev_wait: bool,
}
