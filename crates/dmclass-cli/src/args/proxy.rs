//! Arguments of `dmclass proxy join|part|rejoin|restore|break`.

use super::values::{self, ObjRef};
use clap::{Args, Subcommand};

/// Arguments of `proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ProxyAction,
}

/// The `proxy` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProxyAction {
    /// Join proxy NAME on --on GROUP to master CLASS/MASTER (copies the master).
    Join(ProxyJoinArgs),
    /// Part proxy CLASS/NAME: split it off, usable as its own volume.
    Part(ProxyPartArgs),
    /// Rejoin parted proxy CLASS/NAME (copies what the master changed since part).
    Rejoin(ProxyRefArgs),
    /// Restore: copy parted proxy CLASS/NAME onto its master (refused while the master
    /// is in use); the proxy ends joined. Asks first (the master's data is overwritten)
    /// unless `--yes`.
    Restore(ProxyRestoreArgs),
    /// Break: end the relationship; the proxy becomes an ordinary volume.
    Break(ProxyRefArgs),
}

/// Arguments of `proxy join`.
#[derive(Debug, Args)]
pub struct ProxyJoinArgs {
    /// The master volume, as CLASS/MASTER.
    #[arg(value_name = "CLASS/MASTER", value_parser = values::obj_ref)]
    pub master: ObjRef,
    /// The proxy's name (its device when parted is /dev/dmclass/CLASS/NAME).
    #[arg(value_parser = values::name)]
    pub name: String,
    /// The group that holds the proxy (another group of the class).
    #[arg(long, value_parser = values::name)]
    pub on: String,
}

/// Arguments of `proxy part`.
#[derive(Debug, Args)]
pub struct ProxyPartArgs {
    /// The proxy, as CLASS/NAME.
    #[arg(value_name = "CLASS/NAME", value_parser = values::obj_ref)]
    pub proxy: ObjRef,
    /// Expose the proxy read-only: the next rejoin then stays incremental.
    #[arg(long)]
    pub readonly: bool,
}

/// Arguments of `proxy restore`.
#[derive(Debug, Args)]
pub struct ProxyRestoreArgs {
    /// The proxy, as CLASS/NAME.
    #[arg(value_name = "CLASS/NAME", value_parser = values::obj_ref)]
    pub proxy: ObjRef,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// A proxy named as CLASS/NAME.
#[derive(Debug, Args)]
pub struct ProxyRefArgs {
    /// The proxy, as CLASS/NAME.
    #[arg(value_name = "CLASS/NAME", value_parser = values::obj_ref)]
    pub proxy: ObjRef,
}
