//! Arguments of `dmclass export`.

use clap::Args;

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The class.
    pub class: String,
}
