//! What a VM looks like: personality, firmware, disks (docs/testing.md).

use dmclass_model::{Bytes, Sectors};
use std::time::Duration;

/// The hypervisor a VM pretends to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Personality {
    /// QEMU/KVM guest: virtio-blk and virtio-scsi disks.
    KvmGuest,
    /// VMware guest: VMware SMBIOS, a pvscsi controller, VMDK- and RDM-like disks.
    VmwareGuest,
    /// A KVM host (physical server): no hypervisor CPUID, a server vendor's SMBIOS,
    /// NVMe disks, and `/dev/kvm` (made by the guest's init: TCG cannot nest KVM).
    KvmHost,
}

impl Personality {
    /// The environment name `dmclass probe` should report.
    pub fn environment(self) -> &'static str {
        match self {
            Personality::KvmGuest => "kvm-guest",
            Personality::KvmHost => "kvm-host",
            Personality::VmwareGuest => "vmware-guest",
        }
    }
}

/// Firmware the VM boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// SeaBIOS (QEMU's default).
    Bios,
    /// OVMF (`-bios /usr/share/ovmf/OVMF.fd`, or `$DMCLASS_OVMF`).
    Uefi,
}

impl Firmware {
    /// The boot mode name `dmclass probe` should report.
    pub fn boot_mode(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// The controller a disk hangs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bus {
    /// `virtio-blk-pci` (its own PCI function).
    VirtioBlk,
    /// `scsi-hd` on the `virtio-scsi-pci` controller `scsi0`.
    VirtioScsi,
    /// `scsi-hd` on the VMware `pvscsi` controller `pv0`.
    Pvscsi,
    /// `nvme` controller with one namespace.
    Nvme,
}

/// Which request an injected error hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoOp {
    /// Reads (`read_aio`).
    Read,
    /// Writes (`write_aio`).
    Write,
}

/// An I/O error injected by a `blkdebug` node between the file and the raw node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InjectedError {
    /// Reads or writes.
    pub op: IoOp,
    /// The request touching this sector fails.
    pub sector: Sectors,
    /// errno the guest sees (5 = EIO).
    pub errno: i32,
    /// Fail only the first matching request.
    pub once: bool,
}

/// One disk attached to the VM, backed by a sparse file in the scenario's run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// QEMU node name (letters, digits, `-`, `_`, `.`; starts with a letter). The device
    /// is `dev-<id>`, the file node `f-<id>`.
    pub id: String,
    /// Size of the backing file.
    pub size: Bytes,
    /// Controller.
    pub bus: Bus,
    /// Serial number (`serial=`).
    pub serial: Option<String>,
    /// SCSI NAA WWN (`wwn=`), a 64-bit value.
    pub wwn: Option<u64>,
    /// SCSI INQUIRY vendor (`vendor=`).
    pub vendor: Option<String>,
    /// SCSI INQUIRY product (`product=`).
    pub product: Option<String>,
    /// Injected I/O errors (adds a blkdebug node).
    pub inject: Vec<InjectedError>,
    /// The disk carries a GPT with an EFI system partition holding the VM's kernel,
    /// initramfs and command line as a unified kernel image at the removable-media
    /// path `\EFI\BOOT\BOOTX64.EFI`; with [`Firmware::Uefi`] the VM boots from it
    /// (OVMF, `bootindex` in disk order) instead of QEMU's `-kernel`.
    pub esp: bool,
    /// With [`DiskSpec::esp`]: a second partition holds the image's file tree as ext4
    /// and the VM's initramfs hands over to it (`dmclass.vmtest.root=`), so `/` is a
    /// file system on the disk.
    pub root: bool,
    /// The disk is shared with another VM running at the same time (a cluster's shared
    /// disk): the guest device has `share-rw=on` and QEMU takes no file lock on the
    /// image, as two hosts attached to one SAN LUN. The guests' own coordination
    /// (leases) is what keeps them apart.
    pub shared: bool,
    /// The image file of another VM's disk to attach instead of a new image
    /// ([`DiskSpec::on_file`]); implies [`DiskSpec::shared`].
    pub file: Option<std::path::PathBuf>,
    /// Bytes per second the guest may read and write (QEMU's throttle filter),
    /// [`DiskSpec::io_limit`].
    pub limit: Option<IoLimit>,
}

/// A disk's speed limit in bytes per second (0: unlimited), so that work the kernel
/// does on it (a snapshot merge writing back to its origin) is still running when a
/// scenario looks. A QEMU throttle group `tg-<disk id>` over the disk's file node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoLimit {
    /// Reads per second.
    pub read_bps: u64,
    /// Writes per second.
    pub write_bps: u64,
}

impl DiskSpec {
    fn new(id: &str, bus: Bus, serial: &str, size: Bytes) -> Self {
        DiskSpec {
            id: id.to_string(),
            size,
            bus,
            serial: Some(serial.to_string()),
            wwn: None,
            vendor: None,
            product: None,
            inject: Vec::new(),
            esp: false,
            root: false,
            shared: false,
            file: None,
            limit: None,
        }
    }

    /// A virtio-blk disk (`/dev/vdX`, `by-id/virtio-<serial>`).
    pub fn virtio_blk(id: &str, serial: &str, size: Bytes) -> Self {
        Self::new(id, Bus::VirtioBlk, serial, size)
    }

    /// A QEMU SCSI disk on virtio-scsi.
    pub fn virtio_scsi(id: &str, serial: &str, size: Bytes) -> Self {
        Self::new(id, Bus::VirtioScsi, serial, size)
    }

    /// A VMDK-like disk: `VMware` / `Virtual disk` on pvscsi.
    pub fn vmdk(id: &str, serial: &str, size: Bytes) -> Self {
        DiskSpec {
            vendor: Some("VMware".into()),
            product: Some("Virtual disk".into()),
            ..Self::new(id, Bus::Pvscsi, serial, size)
        }
    }

    /// An RDM-like disk on pvscsi: a storage array's inquiry data
    /// (`FUJITSU` / `ETERNUS_DXL`) and a WWN.
    pub fn rdm(id: &str, serial: &str, wwn: u64, size: Bytes) -> Self {
        DiskSpec {
            vendor: Some("FUJITSU".into()),
            product: Some("ETERNUS_DXL".into()),
            wwn: Some(wwn),
            ..Self::new(id, Bus::Pvscsi, serial, size)
        }
    }

    /// An NVMe namespace.
    pub fn nvme(id: &str, serial: &str, size: Bytes) -> Self {
        Self::new(id, Bus::Nvme, serial, size)
    }

    /// Marks the disk shared with another VM running at the same time
    /// ([`DiskSpec::shared`]).
    #[must_use]
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Attaches `file`, another VM's disk image (`Vm::disk_file`), instead of a new
    /// image: the second node's view of a shared disk. Same serial and bus as given
    /// here (a shared LUN looks alike from every node).
    #[must_use]
    pub fn on_file(mut self, file: std::path::PathBuf) -> Self {
        self.file = Some(file);
        self.shared = true;
        self
    }

    /// Gives the disk an ESP the firmware boots from ([`DiskSpec::esp`]).
    #[must_use]
    pub fn with_esp(mut self) -> Self {
        self.esp = true;
        self
    }

    /// Gives the disk an ESP and a root file system the VM runs from
    /// ([`DiskSpec::root`]).
    #[must_use]
    pub fn with_root(mut self) -> Self {
        self.esp = true;
        self.root = true;
        self
    }

    /// A slow disk from the first boot on ([`IoLimit`]); [`crate::Vm::set_io_limit`]
    /// changes it later.
    #[must_use]
    pub fn io_limit(mut self, limit: IoLimit) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Adds an injected I/O error.
    #[must_use]
    pub fn with_error(mut self, error: InjectedError) -> Self {
        self.inject.push(error);
        self
    }

    /// The device kind `dmclass probe` should report (docs/support-matrix.md).
    pub fn expected_kind(&self) -> &'static str {
        match self.bus {
            Bus::VirtioBlk => "virtio-blk",
            Bus::VirtioScsi => "virtio-scsi",
            Bus::Pvscsi if self.vendor.as_deref() == Some("VMware") => "vmware-vmdk",
            Bus::Pvscsi => "vmware-rdm",
            Bus::Nvme => "nvme",
        }
    }

    /// The WWN as udev reports it (`ID_WWN`, `0x` + 16 hex digits).
    pub fn expected_wwn(&self) -> Option<String> {
        self.wwn.map(|w| format!("0x{w:016x}"))
    }

    /// The serial as udev reports it in `ID_SERIAL_SHORT`: for a SCSI disk with a WWN
    /// the NAA id (hex, no `0x`), otherwise the serial given to QEMU.
    pub fn expected_serial(&self) -> Option<String> {
        match (self.bus, self.wwn) {
            (Bus::VirtioScsi | Bus::Pvscsi, Some(w)) => Some(format!("{w:016x}")),
            _ => self.serial.clone(),
        }
    }

    /// The `/dev/disk/by-id/` name udev creates for this disk (the most specific one).
    pub fn expected_by_id(&self) -> Option<String> {
        let serial = self.serial.as_deref()?;
        let udev = |s: &str| s.trim().replace(' ', "_");
        Some(match self.bus {
            Bus::VirtioBlk => format!("virtio-{serial}"),
            Bus::Nvme => format!("nvme-QEMU_NVMe_Ctrl_{serial}"),
            Bus::VirtioScsi | Bus::Pvscsi => match self.wwn {
                Some(w) => format!("wwn-0x{w:016x}"),
                None => format!(
                    "scsi-0{}_{}_{}",
                    udev(self.vendor.as_deref().unwrap_or("QEMU")),
                    udev(self.product.as_deref().unwrap_or("QEMU HARDDISK")),
                    serial
                ),
            },
        })
    }
}

/// A whole VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// Scenario name: names the run directory `target/vm/run/<name>/` and the log
    /// directory `target/vm/logs/<name>/`; unique per test.
    pub name: String,
    /// Hypervisor personality.
    pub personality: Personality,
    /// Firmware.
    pub firmware: Firmware,
    /// Guest memory, MiB.
    pub memory_mib: u32,
    /// Disks, in attachment order.
    pub disks: Vec<DiskSpec>,
    /// How long a boot may take until the agent answers.
    pub boot_timeout: Duration,
    /// Extra kernel command-line arguments.
    pub extra_append: String,
    /// Boots after the first resume a VM state saved right after the first boot
    /// ([`VmSpec::quick_reboots`]).
    pub quick_reboots: bool,
    /// UEFI variables kept across boots ([`VmSpec::efi_vars`]).
    pub efi_vars: bool,
    /// Under UEFI, QEMU loads the kernel and initramfs (`-kernel`) although a disk has
    /// an ESP and a root file system: for disks on a controller the firmware has no
    /// driver for ([`VmSpec::kernel_from_qemu`]).
    pub kernel_from_qemu: bool,
    /// A point-to-point network link to another VM ([`VmSpec::link`]).
    pub link: Option<Link>,
}

/// One end of a network link between two VMs: a QEMU `stream` netdev over a Unix
/// socket (no root, no host network), a virtio-net NIC in the guest with a static
/// address set by the guest's init (`dmclass.vmtest.ip=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The socket; the listening end must be started first.
    pub socket: std::path::PathBuf,
    /// Whether this end listens.
    pub listen: bool,
    /// The guest's address with prefix length, e.g. `10.99.0.1/24`.
    pub address: String,
}

impl VmSpec {
    /// A VM with no disks, 512 MiB, a 240 s boot timeout (software emulation, two VMs
    /// sharing two cores).
    pub fn new(name: &str, personality: Personality, firmware: Firmware) -> Self {
        VmSpec {
            name: name.to_string(),
            personality,
            firmware,
            memory_mib: 512,
            disks: Vec::new(),
            boot_timeout: Duration::from_secs(240),
            extra_append: String::new(),
            quick_reboots: false,
            efi_vars: false,
            kernel_from_qemu: false,
            link: None,
        }
    }

    /// Later boots on all disks resume the state saved right after the first boot
    /// (no dm device yet, no disk opened by dmclass) instead of booting the kernel
    /// again: the page cache is dropped, every disk's partition table re-read and udev
    /// replays the `add` events of every block device, as the boot's coldplug does,
    /// and the guest's random generator is reseeded from the host. About 1-2 s instead
    /// of 6-10 s under TCG; for scenarios that boot many times to test what dmclass
    /// does after a power cut, not the boot itself. Boots with disks left out
    /// ([`crate::Vm::start_with_only`]) and boots from a disk's ESP always boot.
    #[must_use]
    pub fn quick_reboots(mut self) -> Self {
        self.quick_reboots = true;
        self
    }

    /// The firmware's variables (boot entries, `BootOrder`, `BootNext`) are kept
    /// across boots, as a machine's NVRAM: OVMF's code and a variable store of this
    /// VM's own (a copy of `OVMF_VARS_4M.fd` made at the first boot) as two flash
    /// devices. Without it (`-bios`), every boot starts from the firmware's defaults.
    #[must_use]
    pub fn efi_vars(mut self) -> Self {
        self.efi_vars = true;
        self
    }

    /// The firmware (OVMF) runs, but QEMU hands it the kernel and initramfs instead of
    /// the firmware reading them from a disk's ESP; the initramfs still switches to the
    /// root file system on the disks. For pvscsi system disks: Debian's OVMF has no
    /// pvscsi driver (`PvScsiDxe`), so it cannot read such a disk at all. Everything
    /// after the firmware (the kernel, efivarfs, the initramfs assembling the class,
    /// the ESPs as files) is as on a firmware boot from the disk.
    #[must_use]
    pub fn kernel_from_qemu(mut self) -> Self {
        self.kernel_from_qemu = true;
        self
    }

    /// Connects the VM to another through a network link ([`Link`]).
    #[must_use]
    pub fn link(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }

    /// Adds a disk.
    #[must_use]
    pub fn disk(mut self, disk: DiskSpec) -> Self {
        self.disks.push(disk);
        self
    }

    /// Sets the guest memory.
    #[must_use]
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    /// Whether the firmware boots from a disk's ESP (UEFI and a disk
    /// [`DiskSpec::with_esp`]) rather than from QEMU's `-kernel`.
    pub fn boots_from_disk(&self) -> bool {
        self.firmware == Firmware::Uefi
            && !self.kernel_from_qemu
            && self.disks.iter().any(|d| d.esp)
    }

    /// Whether the initramfs switches to a root file system on a disk: a boot from a
    /// disk's ESP, or [`VmSpec::kernel_from_qemu`] with a root disk.
    pub fn runs_from_disk(&self) -> bool {
        self.firmware == Firmware::Uefi && self.disks.iter().any(|d| d.esp)
    }

    /// The disk with this id.
    pub fn find_disk(&self, id: &str) -> Option<&DiskSpec> {
        self.disks.iter().find(|d| d.id == id)
    }
}

/// Checks names QEMU will accept as ids and that the scenario name is path-safe.
pub(crate) fn validate(spec: &VmSpec) -> Result<(), String> {
    let ok_id = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.len() <= 28
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !ok_id(&spec.name) {
        return Err(format!(
            "scenario name `{}`: use [A-Za-z][A-Za-z0-9_.-]*, at most 28 characters",
            spec.name
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &spec.disks {
        if !ok_id(&d.id) {
            return Err(format!(
                "disk id `{}`: use [A-Za-z][A-Za-z0-9_.-]*, at most 28 characters",
                d.id
            ));
        }
        if !seen.insert(d.id.as_str()) {
            return Err(format!("disk id `{}` used twice", d.id));
        }
        if d.size.0 == 0 || d.size.0 % 512 != 0 {
            return Err(format!(
                "disk `{}`: size must be a non-zero multiple of 512",
                d.id
            ));
        }
    }
    if !(128..=4096).contains(&spec.memory_mib) {
        return Err(format!("memory {} MiB out of 128..=4096", spec.memory_mib));
    }
    Ok(())
}
