//! Arguments of `dmclass plan`.

use clap::Args;
use dmclass_model::Environment;
use std::path::PathBuf;

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The YAML configuration.
    pub file: PathBuf,
    /// Read machine facts from this file instead of probing; touches no device.
    #[arg(long, value_name = "F")]
    pub facts: Option<PathBuf>,
    /// Assume this environment instead of the detected one.
    #[arg(long, value_name = "ENV")]
    pub env: Option<Environment>,
    /// Plan removals of volumes missing from the file (as `apply --allow-destroy`).
    #[arg(long)]
    pub allow_destroy: bool,
    /// Machine-readable plan.
    #[arg(long)]
    pub json: bool,
    /// Print the device-mapper tables the plan loads.
    #[arg(long)]
    pub tables: bool,
}
