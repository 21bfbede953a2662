//! Arguments of `dmclass activate`.

use clap::Args;

/// Arguments of `activate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["classes", "all", "root"])))]
pub struct ActivateArgs {
    /// Classes to activate.
    pub classes: Vec<String>,
    /// Every class found on this machine's disks.
    #[arg(long, conflicts_with = "force")]
    pub all: bool,
    /// Start a class the closing rule keeps down (too few metadata copies readable),
    /// from the complete copies present. The absent disks are recorded stale: when
    /// they return they are resynced from the others, never used as a source. Asks
    /// first; names the classes explicitly. For a netmirror class it is also the
    /// failover and the override of the start lock: the volume starts from this
    /// node's disk without the partner's (only once the partner is fenced or its
    /// disk lost), and a lease area on the partner's disk moves to this node's.
    #[arg(long, requires = "classes")]
    pub force: bool,
    /// With --force: do not ask.
    #[arg(long, short = 'y', requires = "force")]
    pub yes: bool,
    /// Every root class found (the system disk's class): what the initramfs runs
    /// before it mounts the root file system. Finding none is not an error.
    #[arg(long, conflicts_with_all = ["all", "force"])]
    pub root: bool,
    /// Wait up to SECONDS for missing disks of the chosen classes to appear before
    /// starting degraded (the initramfs passes `dmclass.degraded_wait=`, default 10).
    /// Each missing disk is named and the time waited is printed.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub wait_disks: Option<u32>,
    /// Shared classes: when another node holds a volume's lease, wait up to SECONDS
    /// for it to be given back or for that node's host lease to expire (a node that
    /// died or lost its disks; about 8 × io_timeout + 60 s after its last renewal,
    /// 140 s with sanlock's defaults), retrying every 2 s; the time waited is printed.
    /// Default: refuse at once, naming the holder.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub wait_lease: Option<u32>,
    /// Return as soon as the devices are up, without waiting (up to 60 s) for udev
    /// to create /dev/dmclass/CLASS/VOLUME.
    #[arg(long)]
    pub no_udev_wait: bool,
}
