//! Arguments of `dmclass esp`.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Arguments of `esp`.
#[derive(Debug, Args)]
pub struct EspArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EspCommand,
}

/// The `esp` subcommands.
#[derive(Debug, Subcommand)]
pub enum EspCommand {
    /// Copy the boot files of the mounted ESP to the ESP of every other disk of the
    /// root class, and register one UEFI boot entry per disk.
    ///
    /// The source is the ESP mounted at --esp-path (default /boot/efi), which must be
    /// one of the class's ESPs; --from DISK names another. Each other ESP is mounted
    /// for the copy under /run/dmclass/esp/ (or used where it is mounted already);
    /// changed and new files are written to a temporary name, flushed and renamed,
    /// files the source no longer has are removed after all copies, and
    /// loader/random-seed stays each ESP's own. A disk that is missing is skipped and
    /// named. Boot entries: every ESP without an active entry gets one, labelled
    /// `dmclass CLASS/DISK`, pointing at the loader this boot came through (or
    /// \EFI\BOOT\BOOTX64.EFI), appended to BootOrder (needs efibootmgr and efivarfs).
    ///
    /// Run by the kernel and initramfs hooks the package installs
    /// (/etc/kernel/postinst.d/zz-dmclass, /etc/initramfs/post-update.d/dmclass) after
    /// every kernel or initramfs change; by hand after a boot loader update. On a
    /// machine without a root class it prints so and exits 0.
    ///
    /// Exit status: 0 every present ESP holds the source's files (with --dry-run: the
    /// check ran), 1 refused or failed (stderr names the disk, file and reason).
    #[command(after_long_help = "Examples:\n  \
        dmclass esp sync                     after a kernel update (the hooks do this)\n  \
        dmclass esp sync --dry-run           what differs, nothing written\n  \
        dmclass esp sync --from sys2         the good boot files are on disk sys2's ESP")]
    Sync(EspSyncArgs),
}

/// Arguments of `esp sync`.
#[derive(Debug, Args)]
pub struct EspSyncArgs {
    /// Root classes to sync (default: every root class on this machine's disks).
    pub classes: Vec<String>,
    /// Where the ESP the system updates is mounted.
    #[arg(long, value_name = "DIR", default_value = "/boot/efi")]
    pub esp_path: PathBuf,
    /// Copy from this disk's ESP (a disk name of the class) instead of the mounted one.
    #[arg(long, value_name = "DISK", conflicts_with = "esp_path")]
    pub from: Option<String>,
    /// Say what would be copied, removed and registered; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the firmware's boot entries alone.
    #[arg(long)]
    pub no_boot_entries: bool,
    /// Loader path of new boot entries (default: the one this boot came through, when
    /// it is on one of the class's ESPs, else \EFI\BOOT\BOOTX64.EFI).
    #[arg(long, value_name = "PATH")]
    pub loader: Option<String>,
    /// Print the result as JSON (schema dmclass-esp/1).
    #[arg(long)]
    pub json: bool,
}
