//! Arguments of `dmclass snapshot create|merge|remove`.

use super::values::{self, ObjRef};
use clap::{Args, Subcommand};
use dmclass_model::Bytes;

/// Arguments of `snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SnapshotAction,
}

/// The `snapshot` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Take a copy-on-write snapshot NAME of CLASS/VOLUME with a COW store of --size.
    ///
    /// Goes through the support matrix like `apply`. On a kvm-host, a volume open by
    /// another process (a running guest) is refused unless `--force`: a consistent
    /// snapshot needs the guest stopped (row S3a).
    Create(SnapshotCreateArgs),
    /// Restore: merge snapshot CLASS/NAME back into its origin (`snapshot-merge`).
    ///
    /// Returns once the merge is started; the snapshot device goes away. If the origin
    /// is open, the merge starts at its next activation (`status` says so). A volume
    /// of the root class is the running system: it is rolled back at the next boot,
    /// the initramfs starting the merge before the root is mounted. When the kernel
    /// has finished, `activate`, `monitor` or running this command again removes the
    /// snapshot and returns the origin to its own table.
    ///
    /// `--cancel` withdraws a merge that has not started yet (the snapshot still has
    /// its device); a merge the kernel runs cannot be stopped.
    ///
    /// Asks first (the origin's changes since the snapshot are lost) unless `--yes`.
    Merge(SnapshotMergeArgs),
    /// Remove snapshot CLASS/NAME and free its COW store (refused while it is open or
    /// merging). Asks first unless `--yes`.
    Remove(SnapshotConfirmArgs),
}

/// Arguments of `snapshot merge`.
#[derive(Debug, Args)]
pub struct SnapshotMergeArgs {
    /// The snapshot and the confirmation.
    #[command(flatten)]
    pub target: SnapshotConfirmArgs,
    /// Withdraw a requested merge that has not started (nothing of the origin has
    /// changed yet); asks nothing.
    #[arg(long)]
    pub cancel: bool,
}

/// Arguments of `snapshot create`.
#[derive(Debug, Args)]
pub struct SnapshotCreateArgs {
    /// The origin volume, as CLASS/VOLUME.
    #[arg(value_name = "CLASS/VOLUME", value_parser = values::obj_ref)]
    pub origin: ObjRef,
    /// The snapshot's name (its device is /dev/dmclass/CLASS/NAME).
    #[arg(value_parser = values::name)]
    pub name: String,
    /// Size of the COW store, e.g. 256MiB (rounded up to the group's granularity).
    #[arg(long, value_name = "S", value_parser = values::device_size)]
    pub size: Bytes,
    /// Chunk size, a power of two from 4KiB to 512KiB.
    #[arg(long, value_name = "C", default_value = "4KiB", value_parser = values::chunk)]
    pub chunk: Bytes,
    /// Snapshot a volume that is open (e.g. by a running guest) anyway.
    #[arg(long)]
    pub force: bool,
}

/// A snapshot named as CLASS/NAME, for a change that destroys data.
#[derive(Debug, Args)]
pub struct SnapshotConfirmArgs {
    /// The snapshot, as CLASS/NAME.
    #[arg(value_name = "CLASS/NAME", value_parser = values::obj_ref)]
    pub snapshot: ObjRef,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}
