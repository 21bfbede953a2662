//! Arguments of `dmclass check`.

use clap::Args;
use dmclass_model::Environment;
use std::path::PathBuf;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The YAML configuration.
    pub file: PathBuf,
    /// Assume this environment instead of the detected one
    /// (bare-metal, kvm-host, kvm-guest, vmware-guest, other-guest).
    #[arg(long, value_name = "ENV")]
    pub env: Option<Environment>,
    /// Read machine facts from this file (`dmclass probe --json` output) instead of
    /// probing; touches no device.
    #[arg(long, value_name = "F")]
    pub facts: Option<PathBuf>,
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
}
