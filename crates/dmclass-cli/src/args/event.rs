//! Arguments of `dmclass event` (the udev entry point) and `dmclass monitor`.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// What udev saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventAction {
    /// Print the disk's dmclass label as udev properties (`IMPORT{program}`).
    Probe,
    /// A disk appeared.
    Add,
    /// A disk changed (same handling as add; idempotent).
    Change,
    /// A disk went away.
    Remove,
}

/// Arguments of `event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// `probe`, `add`, `change` or `remove` (udev's `$env{ACTION}`).
    #[arg(value_enum)]
    pub action: EventAction,
    /// The disk's device node (udev's `$devnode`).
    pub devnode: PathBuf,
    /// Start a class whose disks are not all present when every autostart volume
    /// has a complete leg (default: wait for every disk).
    #[arg(long)]
    pub degraded: bool,
}

/// Arguments of `monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// React to the current state once and exit (no waiting).
    #[arg(long)]
    pub once: bool,
}
