//! Arguments of `dmclass lease`.

use clap::{Args, Subcommand};

/// Arguments of `lease`.
#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LeaseCommand,
}

/// The `lease` subcommands.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Break-glass: free the leases a dead node holds in a shared class, without
    /// waiting for sanlock to let them go.
    ///
    /// A node that died gives its leases up by itself once its host lease expires
    /// (`activate --wait-lease`); use this only when that cannot happen — the node's
    /// host lease cannot expire for sanlock here, or an admin must act before — and
    /// ONLY once NODE is powered off or fenced: sanlock on a running NODE keeps
    /// believing it holds the leases, and its volumes keep writing, so the next
    /// activation here would make two nodes write the same volumes. Writes the class
    /// lease and every volume lease NODE holds afresh (`sanlock direct init`); then
    /// `dmclass activate CLASS` takes them as usual. Asks first (`--yes` to skip).
    ///
    /// Exit status: 0 the leases are free (or NODE held none), 1 refused or failed.
    #[command(after_long_help = "Example:\n  \
        dmclass lease break acc --node node1   after node1 was fenced")]
    Break(BreakArgs),
}

/// Arguments of `lease break`.
#[derive(Debug, Args)]
pub struct BreakArgs {
    /// The shared class.
    pub class: String,
    /// The node whose leases are freed (one of the class's nodes, not this one).
    #[arg(long)]
    pub node: String,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}
