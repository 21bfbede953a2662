//! Command-line definition (DESIGN.md §4). Help text is the man page: keep it exact.

use crate::values::{self, CopyRate, ObjRef};
use clap::{Args, Parser, Subcommand};
use dmclass_model::Bytes;
use dmclass_model::Environment;
use std::path::PathBuf;

/// Extra sections of `dmclass --help`, in the manner of a man page.
const AFTER_HELP: &str = "\
Examples:
  dmclass probe                                what this machine and its disks are
  dmclass check data.yaml                      can this configuration be applied here?
  dmclass plan data.yaml --tables              what apply would do, with the dm tables
  dmclass apply data.yaml                      do it (asks first; --yes to skip)
  dmclass status --watch                       states and resync progress
  dmclass activate --all                       at boot: assemble every class from its disks

Files:
  /dev/dmclass/<class>/<volume>                a volume (udev rule 69-dmclass.rules)
  /dev/mapper/dmclass-<class>-<volume>         the same; a `-` inside a name is doubled
  first 32 MiB of every member disk            dmclass metadata (two headers, two slots)

Limits:
  a configuration YAML of at most 1 MiB, a --facts document of at most 16 MiB,
  a simulated world.json of at most 256 MiB; a larger file (or /dev/zero) is refused
  with exit status 1, naming the file and the limit

Environment:
  DMCLASS_SIM=<dir>        drive a simulated kernel and disks kept in <dir> (facts.json,
                           world.json) instead of this machine: for tests and trying things
  DMCLASS_FAILPOINT=<step> stop as if killed at a step of apply, snapshot, proxy (tests; docs/failpoints.md)
  RUST_LOG=<level>         log detail (error, warn, info, debug)";

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
    max_term_width = 100,
    after_long_help = AFTER_HELP
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
    /// Show what `apply` would do: ordered actions and, with `--tables`, the exact
    /// device-mapper tables. Changes nothing.
    ///
    /// With `--facts`, disks are not read: the plan assumes they are blank (new class).
    Plan(PlanArgs),
    /// Make the configuration true: register disks, write metadata, create volumes.
    ///
    /// Shows the plan and asks for confirmation unless `--yes`. Idempotent: applying
    /// the same file again does nothing. Refuses, changing nothing, when the
    /// configuration is not supported here, a disk carries data (`wipe: true` to
    /// allow), is in use, or the class changed on disk since it was read.
    Apply(ApplyArgs),
    /// Show classes as they are on disk and in the kernel: disks (ENABLE, DISABLE,
    /// SPARE), volumes (ACTIVE, STOP, INVALID) with size, path and resync percent, and
    /// each volume's slices (ACTIVE, STOP, INVALID, COPY, TEMP, NOUSE).
    Status(StatusArgs),
    /// Assemble classes from the metadata on their disks (no YAML needed) and start
    /// their autostart volumes. A mirror with a missing disk starts degraded, with a
    /// warning. Running it again changes nothing.
    Activate(ActivateArgs),
    /// Stop every volume of the named classes (top devices first). Refuses, changing
    /// nothing more, while a volume is open (mounted, in use by a guest).
    Deactivate(DeactivateArgs),
    /// Print the class as it is on disk, as YAML that `apply` accepts; applying it
    /// again plans nothing.
    Export(ExportArgs),
    /// Copy-on-write snapshots of a volume: create, merge back (restore), remove.
    ///
    /// A snapshot is a point-in-time view of a volume at /dev/dmclass/CLASS/NAME; its
    /// COW store is carved from the class on the origin's group (mirrored when the
    /// group is a mirror). `status` shows each snapshot's usage; a full store makes
    /// the snapshot INVALID and leaves the volume unharmed. Snapshots in a YAML file
    /// are applied like volumes (removal only with `--allow-destroy`).
    Snapshot(SnapshotArgs),
    /// GDS proxy volumes: join a proxy to a master (extra raid1 leg, full copy), part
    /// it (point-in-time copy at /dev/dmclass/CLASS/NAME), rejoin (copies only what
    /// the master changed; a full copy if the proxy was parted read-write), restore
    /// (proxy onto master, full copy; master must not be in use), break.
    Proxy(ProxyArgs),
    /// Change a volume's resynchronisation copy speed, recorded on disk and applied
    /// to the running volume at once (GDS's copy delay, `sdxcopy -P`).
    ///
    /// The rate limits how fast dm-raid copies to a rebuilding or rejoining leg, per
    /// disk (`max_recovery_rate`); `default` removes the limit, leaving the kernel's
    /// /proc/sys/dev/raid/speed_limit_max. A live raid1 volume's table is reloaded
    /// (a brief suspend); an inactive one gets the rate at its next activation. The
    /// same setting is the `copy_rate` key of a volume in the YAML file.
    Tune(TuneArgs),
    /// udev entry point for member disks (69-dmclass.rules): `probe DEVNODE` prints
    /// the label as udev properties; `add|change DEVNODE` re-adds a returning leg
    /// (bitmap resync), swaps a leg back from a hot spare, or starts a class that is
    /// now complete; `remove DEVNODE` records failed legs. Quick: a few ioctls.
    Event(crate::cmd::event::EventArgs),
    /// Wait on device-mapper events of dmclass devices and react: failed legs become
    /// INVALID (logged with the disk's stable id), a hot spare is rebuilt in their
    /// place when the class has `hot_spare: true`, finished resyncs become ACTIVE.
    Monitor(crate::cmd::event::MonitorArgs),
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

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The YAML configuration.
    pub file: PathBuf,
    /// Read machine facts from this file instead of probing; touches no device.
    #[arg(long, value_name = "F")]
    pub facts: Option<PathBuf>,
    /// Assume this environment instead of the detected one.
    #[arg(long, value_name = "ENV")]
    pub env: Option<Environment>,
    /// Plan removals of volumes missing from the file (as `apply --allow-destroy`).
    #[arg(long)]
    pub allow_destroy: bool,
    /// Machine-readable plan.
    #[arg(long)]
    pub json: bool,
    /// Print the device-mapper tables the plan loads.
    #[arg(long)]
    pub tables: bool,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The YAML configuration.
    pub file: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow removing volumes that are missing from the file.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Assume this environment instead of the detected one.
    #[arg(long, value_name = "ENV")]
    pub env: Option<Environment>,
    /// Return as soon as the devices are up, without waiting (up to 60 s) for udev
    /// to create /dev/dmclass/CLASS/VOLUME.
    #[arg(long)]
    pub no_udev_wait: bool,
}

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

/// Arguments of `activate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["classes", "all"])))]
pub struct ActivateArgs {
    /// Classes to activate.
    pub classes: Vec<String>,
    /// Every class found on this machine's disks.
    #[arg(long, conflicts_with = "force")]
    pub all: bool,
    /// Start a class the closing rule keeps down (too few metadata copies readable),
    /// from the complete copies present. The absent disks are recorded stale: when
    /// they return they are resynced from the others, never used as a source. Asks
    /// first; names the classes explicitly.
    #[arg(long, requires = "classes")]
    pub force: bool,
    /// With --force: do not ask.
    #[arg(long, short = 'y', requires = "force")]
    pub yes: bool,
    /// Return as soon as the devices are up, without waiting (up to 60 s) for udev
    /// to create /dev/dmclass/CLASS/VOLUME.
    #[arg(long)]
    pub no_udev_wait: bool,
}

/// Arguments of `deactivate`.
#[derive(Debug, Args)]
pub struct DeactivateArgs {
    /// Classes to deactivate.
    #[arg(required = true)]
    pub classes: Vec<String>,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The class.
    pub class: String,
}

/// Arguments of `tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The volume, as CLASS/VOLUME.
    #[arg(value_name = "CLASS/VOLUME", value_parser = values::obj_ref)]
    pub volume: ObjRef,
    /// Copy speed per second per disk, a whole number of KiB from 1KiB to 1TiB
    /// (e.g. 50MiB means 50 MiB/s on each leg), or `default` for the kernel's limit.
    #[arg(long, value_name = "RATE", value_parser = values::copy_rate)]
    pub copy_rate: CopyRate,
}

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
    /// is open, the merge starts at its next activation (`status` says so). When the
    /// kernel has finished, `activate` or running this command again removes the
    /// snapshot and returns the origin to its own table.
    ///
    /// Asks first (the origin's changes since the snapshot are lost) unless `--yes`.
    Merge(SnapshotConfirmArgs),
    /// Remove snapshot CLASS/NAME and free its COW store (refused while it is open or
    /// merging). Asks first unless `--yes`.
    Remove(SnapshotConfirmArgs),
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

/// A snapshot named as CLASS/NAME.
#[derive(Debug, Args)]
pub struct SnapshotRefArgs {
    /// The snapshot, as CLASS/NAME.
    #[arg(value_name = "CLASS/NAME", value_parser = values::obj_ref)]
    pub snapshot: ObjRef,
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
