//! Arguments of `dmclass status`.

use clap::Args;

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this class.
    pub class: Option<String>,
    /// Machine-readable status.
    #[arg(long)]
    pub json: bool,
    /// Redraw every 2 seconds; without a terminal, stop once nothing is resyncing.
    #[arg(long)]
    pub watch: bool,
}
