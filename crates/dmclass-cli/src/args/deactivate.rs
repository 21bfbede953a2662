//! Arguments of `dmclass deactivate`.

use clap::Args;

/// Arguments of `deactivate`.
#[derive(Debug, Args)]
pub struct DeactivateArgs {
    /// Classes to deactivate.
    #[arg(required = true)]
    pub classes: Vec<String>,
}
