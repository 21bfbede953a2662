//! Arguments of `dmclass root`.

use clap::{Args, Subcommand};

/// Arguments of `root`.
#[derive(Debug, Args)]
pub struct RootArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RootCommand,
}

/// The `root` subcommands.
#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Undo a root class: back to a plain boot from one disk's own partitions.
    ///
    /// Records the request on every disk of the class; nothing is taken apart while
    /// the system runs on it. At the next boot the initramfs does not assemble the
    /// class: it wipes the copies on the other disks (the signatures at the start of
    /// each partition, the private area, the partition table), then removes the
    /// dmclass partition from the kept disk's table; the root file system is then
    /// found on the kept disk's partition (`root=UUID=` as before the conversion).
    /// A disk missing at that boot keeps its copy (wipe it before reusing it).
    ///
    /// Refused unless every slice on the kept disk is a complete copy, and while the
    /// class has snapshots or proxies. Asks first (`--yes` to skip). After the boot,
    /// remove the other disks' UEFI boot entries (`efibootmgr -b NNNN -B`).
    ///
    /// Exit status: 0 the undo is recorded (or was already), 1 refused or failed.
    #[command(after_long_help = "Examples:\n  \
        dmclass root undo sys            keep the disk of role keep, then reboot\n  \
        dmclass root undo sys --keep sys2 --yes\n                                   \
        keep sys2 (e.g. the keep disk was replaced)")]
    Undo(UndoArgs),
}

/// Arguments of `root undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The root class.
    pub class: String,
    /// The disk the machine keeps booting from (default: the disk of role keep).
    #[arg(long, value_name = "DISK")]
    pub keep: Option<String>,
    /// Do not ask.
    #[arg(long)]
    pub yes: bool,
}
