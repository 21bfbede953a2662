//! Arguments of `dmclass probe`.

use clap::Args;

/// Arguments of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Print the facts document as JSON.
    #[arg(long)]
    pub json: bool,
}
