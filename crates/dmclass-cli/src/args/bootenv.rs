//! Arguments of `dmclass bootenv`.

use super::values;
use clap::{Args, Subcommand};

/// Arguments of `bootenv`.
#[derive(Debug, Args)]
pub struct BootenvArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: BootenvAction,
}

/// The `bootenv` subcommands.
#[derive(Debug, Subcommand)]
pub enum BootenvAction {
    /// Create boot environment NAME: a copy of every volume of the root class, taken
    /// from the running system, that boots on its own.
    ///
    /// Joins a proxy NAME-VOLUME of every volume on the class's boot-environment group
    /// (a full copy, progress shown), parts each (the volume's file system is frozen
    /// by device-mapper for that moment: the copy is consistent), rewrites the copy's
    /// /etc/fstab so it mounts its own volumes, and registers one UEFI boot entry per
    /// ESP of the class whose command line names the copy's root
    /// (`root=/dev/dmclass/CLASS/NAME-VOLUME dmclass.root=CLASS/NAME-VOLUME`). The
    /// running system is not changed. Run from the primary environment. A create cut
    /// short (power loss, Ctrl-C) is finished by running it again.
    ///
    /// Exit status: 0 created (or finished), 1 refused or failed.
    #[command(after_long_help = "Examples:\n  \
        dmclass bootenv create upgrade        copy the running system\n  \
        dmclass bootenv activate upgrade --once\n  \
        reboot                                into the copy, once")]
    Create(CreateArgs),
    /// List the boot environments: the primary (the class's own volumes) and each
    /// created one, which one runs now and which one the next boot starts.
    List(ListArgs),
    /// Make the next boot, and every boot after it, start environment NAME (its boot
    /// entry first in BootOrder); `--once`: the next boot only (BootNext), then the
    /// boot order again. `primary` returns to the class's own volumes.
    Activate(ActivateArgs),
    /// Remove boot environment NAME: its boot entries, then its volumes (their data is
    /// lost). Refused for the environment that runs now. Asks first (`--yes`).
    Remove(RemoveArgs),
    /// Rename boot environment OLD to NEW (its boot entries are labelled anew; its
    /// volumes keep their device names).
    Rename(RenameArgs),
    /// Make boot environment NAME the primary: after an upgrade that went well in the
    /// copy, the class's own volumes take its data.
    ///
    /// Run from inside NAME (the class's own volumes must not be in use: GDS restores a
    /// proxy onto its master only then). Records the promotion and makes the next boot
    /// start the primary. That boot, in the initramfs before anything is mounted,
    /// copies NAME's volumes onto the class's own ones — only the regions either side
    /// changed since the copy was parted, as `dmclass proxy restore` does — names the
    /// class's volumes again in the root's /etc/fstab, and removes NAME (its boot
    /// entries are deleted already when the promotion is recorded). The primary then
    /// boots with NAME's data. What the class's own volumes held is lost. A boot cut
    /// during the work does the rest at the next one. `--cancel` takes a recorded
    /// promotion back (and registers NAME's boot entries again).
    ///
    /// Exit status: 0 recorded (or cancelled), 1 refused or failed.
    #[command(after_long_help = "Examples:\n  \
        dmclass bootenv activate upgrade --once; reboot\n  \
        (upgrade and test inside upgrade)\n  \
        dmclass bootenv promote upgrade       then reboot: the primary has upgrade's data")]
    Promote(PromoteArgs),
}

/// The root class, when the machine has more than one class.
#[derive(Debug, Args)]
pub struct ClassArg {
    /// The root class (default: the only root class on this machine's disks).
    #[arg(long, value_parser = values::name)]
    pub class: Option<String>,
}

/// Arguments of `bootenv create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The environment's name (its volumes are NAME-VOLUME).
    #[arg(value_parser = values::name)]
    pub name: String,
    #[command(flatten)]
    pub class: ClassArg,
}

/// Arguments of `bootenv list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub class: ClassArg,
    /// Machine-readable list (schema `dmclass-bootenv/1`).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `bootenv activate`.
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// The environment (`primary`: the class's own volumes).
    #[arg(value_parser = values::name)]
    pub name: String,
    /// For the next boot only (UEFI BootNext).
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub class: ClassArg,
}

/// Arguments of `bootenv remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The environment.
    #[arg(value_parser = values::name)]
    pub name: String,
    /// Do not ask.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub class: ClassArg,
}

/// Arguments of `bootenv promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment.
    #[arg(value_parser = values::name)]
    pub name: String,
    /// Do not ask.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Take a recorded promotion back (before the reboot).
    #[arg(long)]
    pub cancel: bool,
    #[command(flatten)]
    pub class: ClassArg,
}

/// Arguments of `bootenv rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The environment.
    #[arg(value_parser = values::name)]
    pub old: String,
    /// Its new name.
    #[arg(value_parser = values::name)]
    pub new: String,
    #[command(flatten)]
    pub class: ClassArg,
}
