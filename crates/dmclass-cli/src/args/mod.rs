//! Command-line definition (docs/cli.md). Help text is the man page: keep it exact.
//!
//! One file per command or command group holds its arguments (`args/snapshot.rs`: the
//! `snapshot` subcommands); the help text of each command is the doc comment of its
//! [`Command`] variant here. Typed values (`CLASS/NAME`, sizes, rates) are parsed in
//! [`values`]. Nothing here depends on how a command runs (`crate::cmd`).

pub mod activate;
pub mod apply;
pub mod bootenv;
pub mod check;
pub mod deactivate;
pub mod esp;
pub mod event;
pub mod export;
pub mod lease;
pub mod lease_holder;
pub mod plan;
pub mod probe;
pub mod proxy;
pub mod root;
pub mod rules;
pub mod snapshot;
pub mod status;
pub mod tune;
pub mod values;

use clap::{Parser, Subcommand};

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
    /// More output: each step of a change as a log line also when stderr is not a
    /// terminal, and log messages (repeat for debug); also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: no plan before a change confirmed with --yes, no progress; the
    /// result lines, warnings and errors stay.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
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
    Probe(probe::ProbeArgs),
    /// Print the support matrix: which functions are supported in which environment,
    /// class type, boot mode and on which device kinds, with the row ids denials cite.
    Rules(rules::RulesArgs),
    /// Check a configuration: schema, references, the support matrix and the devices.
    ///
    /// Exits 0 when the configuration can be applied here, 1 with every reason when it
    /// cannot. With `--facts` no device is touched.
    Check(check::CheckArgs),
    /// Show what `apply` would do: ordered actions and, with `--tables`, the exact
    /// device-mapper tables. Changes nothing.
    ///
    /// With `--facts`, disks are not read: the plan assumes they are blank (new class).
    Plan(plan::PlanArgs),
    /// Make the configuration true: register disks, write metadata, create volumes.
    ///
    /// Shows the plan and asks for confirmation unless `--yes`. Idempotent: applying
    /// the same file again does nothing. Refuses, changing nothing, when the
    /// configuration is not supported here, a disk carries data (`wipe: true` to
    /// allow), is in use, or the class changed on disk since it was read.
    Apply(apply::ApplyArgs),
    /// Show classes as they are on disk and in the kernel: disks (ENABLE, DISABLE,
    /// SPARE), volumes (ACTIVE, STOP, INVALID) with size, path and resync percent, and
    /// each volume's slices (ACTIVE, STOP, INVALID, COPY, TEMP, NOUSE).
    Status(status::StatusArgs),
    /// Assemble classes from the metadata on their disks (no YAML needed) and start
    /// their autostart volumes. A mirror with a missing disk starts degraded, with a
    /// warning. Running it again changes nothing.
    ///
    /// A shared class starts only when named, on the node that takes its sanlock
    /// leases (the class lease and every autostart volume's; all or none): when
    /// another node holds a volume, the activation is refused naming that node and
    /// since when (`--wait-lease` waits for a dead node's leases to expire). `--all`
    /// and boot-time activation leave shared classes alone.
    Activate(activate::ActivateArgs),
    /// Stop every volume of the named classes (top devices first). Refuses, changing
    /// nothing more, while a volume is open (mounted, in use by a guest). A shared
    /// class's leases are given back once its devices are gone.
    Deactivate(deactivate::DeactivateArgs),
    /// Print the class as it is on disk, as YAML that `apply` accepts; applying it
    /// again plans nothing.
    Export(export::ExportArgs),
    /// Copy-on-write snapshots of a volume: create, merge back (restore), remove.
    ///
    /// A snapshot is a point-in-time view of a volume at /dev/dmclass/CLASS/NAME; its
    /// COW store is carved from the class on the origin's group (mirrored when the
    /// group is a mirror). `status` shows each snapshot's usage; a full store makes
    /// the snapshot INVALID and leaves the volume unharmed. Snapshots in a YAML file
    /// are applied like volumes (removal only with `--allow-destroy`).
    Snapshot(snapshot::SnapshotArgs),
    /// GDS proxy volumes: join a proxy to a master (extra raid1 leg, full copy), part
    /// it (point-in-time copy at /dev/dmclass/CLASS/NAME), rejoin (copies only what
    /// the master changed; a full copy if the proxy was parted read-write), restore
    /// (proxy onto master, full copy; master must not be in use), break.
    Proxy(proxy::ProxyArgs),
    /// The EFI system partitions of a root class: one per disk, kept equal by file
    /// copies (never mirrored at block level: firmware and boot loaders write to
    /// them outside dm), each with its own UEFI boot entry.
    Esp(esp::EspArgs),
    /// The root class as a whole: `undo` takes it apart at the next boot, back to a
    /// plain boot from one disk's partitions.
    Root(root::RootArgs),
    /// Boot environments of the root class: bootable copies of the system (proxies of
    /// its volumes on its boot-environment group) with their own UEFI boot entries.
    /// Upgrade the copy while the system runs, boot into it (`activate --once`), and
    /// fall back to the untouched original if it goes wrong.
    Bootenv(bootenv::BootenvArgs),
    /// A shared class's sanlock leases: `break` frees the leases of a node that is
    /// powered off or fenced (break-glass). `status` shows who holds what.
    Lease(lease::LeaseArgs),
    /// Change a volume's resynchronisation copy speed, recorded on disk and applied
    /// to the running volume at once (GDS's copy delay, `sdxcopy -P`).
    ///
    /// The rate limits how fast dm-raid copies to a rebuilding or rejoining leg, per
    /// disk (`max_recovery_rate`); `default` removes the limit, leaving the kernel's
    /// /proc/sys/dev/raid/speed_limit_max. A live raid1 volume's table is reloaded
    /// (a brief suspend); an inactive one gets the rate at its next activation. The
    /// same setting is the `copy_rate` key of a volume in the YAML file.
    Tune(tune::TuneArgs),
    /// udev entry point for member disks (69-dmclass.rules): `probe DEVNODE` prints
    /// the label as udev properties; `add|change DEVNODE` re-adds a returning leg
    /// (bitmap resync), swaps a leg back from a hot spare, or starts a class that is
    /// now complete; `remove DEVNODE` records failed legs. Quick: a few ioctls.
    Event(event::EventArgs),
    /// Wait on device-mapper events of dmclass devices, react, and report every change.
    ///
    /// Reactions: failed legs become INVALID, a hot spare is rebuilt in their place
    /// when the class has `hot_spare: true`, finished resyncs become ACTIVE. After each
    /// wake-up (a dm event, or at most 60 s without one) the monitor compares what
    /// `status` shows with its previous look and reports each change as an event:
    /// leg_failed, spare_took_over, spare_released, resync_started, resync_finished,
    /// disk_disabled, disk_readded, class_closing. Its first look is compared with
    /// what the metadata records, so a failure that happened while no monitor ran is
    /// reported once.
    ///
    /// Each event is one line on stdout (text; JSON with `--json`), a journal entry
    /// with the fields DMCLASS_EVENT, DMCLASS_CLASS, DMCLASS_VOLUME, DMCLASS_LEG,
    /// DMCLASS_DISK, DMCLASS_DISK_ID, DMCLASS_STATE when journald runs (otherwise a log
    /// line on stderr), and one run of `--exec` PROGRAM. Started by systemd
    /// (dmclass-monitor.service, Type=notify) it reports READY=1 and STATUS=, and pings
    /// the watchdog (WATCHDOG=1) when WatchdogSec= is set.
    Monitor(event::MonitorArgs),
    /// udev helper: print DMCLASS_CLASS, DMCLASS_VOLUME and DMCLASS_LAYER for a dm name
    /// (used by 69-dmclass.rules; not for interactive use).
    #[command(hide = true)]
    UdevImport {
        /// The dm device name (`$env{DM_NAME}`).
        dm_name: String,
    },
    /// Holds one sanlock lease of a shared class for as long as it runs (started by
    /// `activate` and `apply` under `sanlock client command`; not for interactive use).
    /// Ended by SIGTERM: from `deactivate` once the volume is stopped, or from sanlock
    /// when this node can no longer renew its leases — then it first replaces the
    /// volume's tables by `error` targets, so nothing more reaches the disks.
    #[command(hide = true)]
    LeaseHolder(lease_holder::LeaseHolderArgs),
}
