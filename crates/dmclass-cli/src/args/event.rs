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
    /// An NVMe controller is connected again (`NVME_EVENT=connected`; DEVNODE is the
    /// controller, `/dev/nvmeN`): the netmirror legs on the partner's disk that failed
    /// while the link was down are taken back and resync what was written meanwhile.
    Reconnected,
}

/// Arguments of `event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// `probe`, `add`, `change` or `remove` (udev's `$env{ACTION}`), or `reconnected`.
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
    /// React to the current state once, report what changed since the metadata was
    /// last written, and exit (no waiting).
    #[arg(long)]
    pub once: bool,
    /// Print each event as one JSON object per line (schema `dmclass-event/1`)
    /// instead of a line of text.
    #[arg(long)]
    pub json: bool,
    /// Run PROGRAM once per event, with the event in its environment (DMCLASS_EVENT,
    /// DMCLASS_CLASS, DMCLASS_VOLUME, DMCLASS_LEG, DMCLASS_DISK, DMCLASS_DISK_ID,
    /// DMCLASS_STATE, DMCLASS_PREVIOUS_STATE, DMCLASS_TIME, DMCLASS_MESSAGE,
    /// DMCLASS_EVENT_JSON) and the event kind and class as its two arguments. One
    /// program runs at a time, in the order of the events; its output goes to the
    /// monitor's stderr; a failure is logged and the monitor goes on.
    #[arg(long, value_name = "PROGRAM")]
    pub exec: Option<PathBuf>,
    /// Kill PROGRAM (SIGKILL) when it runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub exec_timeout: u64,
}
