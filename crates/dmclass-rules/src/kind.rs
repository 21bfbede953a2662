//! Device kinds (DESIGN.md §2).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a block device is, as seen from inside the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// virtio-blk (`/dev/vdX`).
    VirtioBlk,
    /// SCSI disk on a virtio-scsi host.
    VirtioScsi,
    /// VMware virtual disk on a VMware virtual SCSI controller.
    VmwareVmdk,
    /// Raw device mapping on a VMware virtual SCSI controller (array inquiry data).
    VmwareRdm,
    /// NVMe namespace.
    Nvme,
    /// ATA/SATA disk.
    Ata,
    /// Other SCSI disk.
    Scsi,
    /// Loop device.
    Loop,
    /// Device-mapper device.
    Dm,
    /// MD RAID device.
    Md,
    /// iSCSI disk.
    Iscsi,
    /// Network block device.
    Nbd,
    /// Anything else.
    Unknown,
}

impl DeviceKind {
    /// Every kind, in display order.
    pub const ALL: [DeviceKind; 13] = [
        DeviceKind::VirtioBlk,
        DeviceKind::VirtioScsi,
        DeviceKind::VmwareVmdk,
        DeviceKind::VmwareRdm,
        DeviceKind::Nvme,
        DeviceKind::Ata,
        DeviceKind::Scsi,
        DeviceKind::Loop,
        DeviceKind::Dm,
        DeviceKind::Md,
        DeviceKind::Iscsi,
        DeviceKind::Nbd,
        DeviceKind::Unknown,
    ];

    /// The name used in YAML, JSON and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::VirtioBlk => "virtio-blk",
            DeviceKind::VirtioScsi => "virtio-scsi",
            DeviceKind::VmwareVmdk => "vmware-vmdk",
            DeviceKind::VmwareRdm => "vmware-rdm",
            DeviceKind::Nvme => "nvme",
            DeviceKind::Ata => "ata",
            DeviceKind::Scsi => "scsi",
            DeviceKind::Loop => "loop",
            DeviceKind::Dm => "dm",
            DeviceKind::Md => "md",
            DeviceKind::Iscsi => "iscsi",
            DeviceKind::Nbd => "nbd",
            DeviceKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
