//! Arguments of `dmclass rules`.

use clap::Args;

/// Arguments of `rules`: `--json` only.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
