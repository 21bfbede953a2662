//! Command-line definition (DESIGN.md §4). Help text is the man page: keep it exact.

use clap::{Args, Parser, Subcommand};
use dmclass_model::Environment;
use std::path::PathBuf;

/// dmclass: GDS-style disk classes, mirrors and snapshots on Linux device-mapper.
///
/// Describe classes, mirrored volumes and snapshots in YAML; dmclass checks the layout
/// against the support matrix of virtualization scenarios (`dmclass rules`), turns it
/// into device-mapper tables and keeps its metadata on the member disks.
///
/// Exit status: 0 success, 1 refused or failed (stderr says what, why, and what was
/// left unchanged), 2 bad usage.
#[derive(Debug, Parser)]
#[command(
    name = "dmclass",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// More log output (repeat for debug); also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the environment, boot mode and every block disk with its kind, ids, size,
    /// signatures, in-use state and dmclass label.
    ///
    /// `--json` prints the facts document that `check --facts` and `plan --facts` read,
    /// so a configuration can be checked on another machine.
    Probe(ProbeArgs),
    /// Print the support matrix: which functions are supported in which environment,
    /// class type, boot mode and on which device kinds, with the row ids denials cite.
    Rules(JsonArgs),
    /// Check a configuration: schema, references, the support matrix and the devices.
    ///
    /// Exits 0 when the configuration can be applied here, 1 with every reason when it
    /// cannot. With `--facts` no device is touched.
    Check(CheckArgs),
    /// udev helper: print DMCLASS_CLASS, DMCLASS_VOLUME and DMCLASS_LAYER for a dm name
    /// (used by 69-dmclass.rules; not for interactive use).
    #[command(hide = true)]
    UdevImport {
        /// The dm device name (`$env{DM_NAME}`).
        dm_name: String,
    },
}

/// `--json` only.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Print the facts document as JSON.
    #[arg(long)]
    pub json: bool,
}

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
