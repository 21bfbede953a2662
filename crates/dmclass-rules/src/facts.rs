//! The facts document: what `probe --json` prints and `--facts` reads back.
//!
//! Facts are untrusted input when read from a file: every field has a default so that
//! a partial document still loads, and nothing here panics on odd values.

use crate::kind::DeviceKind;
use dmclass_model::{BootMode, Bytes, Environment};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Version of the facts document format.
pub const FACTS_FORMAT: u32 = 1;

/// Everything dmclass knows about a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Format version ([`FACTS_FORMAT`]).
    pub format: u32,
    /// Detected environment.
    pub environment: Environment,
    /// Boot mode.
    pub boot: BootMode,
    /// Evidence for the detection.
    #[serde(default)]
    pub machine: MachineFacts,
    /// Block disks.
    #[serde(default)]
    pub disks: Vec<DiskFacts>,
}

/// Evidence used to decide the environment (DMI, CPUID, /dev/kvm).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineFacts {
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// CPUID leaf 0x40000000 vendor signature, when the hypervisor bit is set.
    #[serde(default)]
    pub cpuid_hypervisor: Option<String>,
    /// DMI `sys_vendor`.
    #[serde(default)]
    pub dmi_sys_vendor: Option<String>,
    /// DMI `product_name`.
    #[serde(default)]
    pub dmi_product_name: Option<String>,
    /// DMI `bios_vendor`.
    #[serde(default)]
    pub dmi_bios_vendor: Option<String>,
    /// DMI `board_vendor`.
    #[serde(default)]
    pub dmi_board_vendor: Option<String>,
    /// `/dev/kvm` exists.
    #[serde(default)]
    pub dev_kvm: bool,
    /// `/sys/firmware/efi` exists.
    #[serde(default)]
    pub efi: bool,
}

/// One filesystem / RAID / partition-table signature blkid found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// blkid TYPE or PTTYPE (`ext4`, `gpt`, `LVM2_member`, `linux_raid_member`, `dmclass`...).
    #[serde(rename = "type")]
    pub sig_type: String,
    /// blkid USAGE (`filesystem`, `raid`, `partition_table`, ...).
    #[serde(default)]
    pub usage: Option<String>,
    /// Label, when the signature has one.
    #[serde(default)]
    pub label: Option<String>,
    /// UUID, when the signature has one.
    #[serde(default)]
    pub uuid: Option<String>,
}

/// Whether something else is using the disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUse {
    /// Mount points of the disk or its partitions.
    #[serde(default)]
    pub mounted: Vec<PathBuf>,
    /// Kernel holders (`/sys/block/X/holders`, and of its partitions).
    #[serde(default)]
    pub holders: Vec<String>,
    /// Someone holds the device open exclusively (O_EXCL open fails with EBUSY).
    #[serde(default)]
    pub exclusive: bool,
    /// Partitions of the disk.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// Holders that are dm devices of the class named in this disk's own dmclass label
    /// (the class's volumes, running): not a reason to refuse re-applying that class.
    #[serde(default)]
    pub dmclass_holders: Vec<String>,
}

impl InUse {
    /// True when the disk must not be touched.
    ///
    /// The class's own running volumes hold their disks exclusively; that alone does
    /// not make the disk busy (they are listed in `dmclass_holders`, not `holders`).
    pub fn is_busy(&self) -> bool {
        !self.mounted.is_empty()
            || !self.holders.is_empty()
            || (self.exclusive && self.dmclass_holders.is_empty())
    }
}

/// dmclass label found on a disk (class and disk it belongs to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelFacts {
    /// Class name.
    pub class: String,
    /// Disk name within the class.
    pub disk: String,
    /// Class UUID.
    #[serde(default)]
    pub class_uuid: Option<String>,
    /// Disk UUID.
    #[serde(default)]
    pub disk_uuid: Option<String>,
    /// Metadata generation.
    #[serde(default)]
    pub generation: Option<u64>,
}

/// One block disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFacts {
    /// Kernel name (`vda`, `sdb`, `nvme0n1`).
    pub name: String,
    /// Device node (`/dev/vda`).
    pub devnode: PathBuf,
    /// Classified kind.
    pub kind: DeviceKind,
    /// Size in bytes.
    pub size: Bytes,
    /// Serial (`ID_SERIAL_SHORT`, else `ID_SERIAL`).
    #[serde(default)]
    pub serial: Option<String>,
    /// WWN (`ID_WWN`).
    #[serde(default)]
    pub wwn: Option<String>,
    /// Vendor (`ID_VENDOR`).
    #[serde(default)]
    pub vendor: Option<String>,
    /// Model (`ID_MODEL`).
    #[serde(default)]
    pub model: Option<String>,
    /// Controller driver (SCSI host `proc_name`, or the device driver).
    #[serde(default)]
    pub controller: Option<String>,
    /// Stable links (`/dev/disk/by-id/...`, `/dev/disk/by-path/...`).
    #[serde(default)]
    pub links: Vec<PathBuf>,
    /// Signatures found by blkid.
    #[serde(default)]
    pub signatures: Vec<Signature>,
    /// Use by others.
    #[serde(default)]
    pub in_use: InUse,
    /// dmclass label, when the disk carries one.
    #[serde(default)]
    pub dmclass: Option<LabelFacts>,
    /// Virtual-machine processes (QEMU, also when libvirt started it) holding the disk
    /// or one of its partitions open, as `comm[pid]`: evidence that the disk is a
    /// guest's (N3). Empty: none found. `None`: not known (procfs unreadable, or a
    /// facts file from an older dmclass) — which is no evidence either way.
    #[serde(default)]
    pub guest_openers: Option<Vec<String>>,
    /// The recorded udev/sysfs properties the kind was derived from.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::InUse;

    #[test]
    fn own_class_holders_do_not_make_a_disk_busy() {
        let own = InUse {
            exclusive: true,
            dmclass_holders: vec!["dm-0".into()],
            ..InUse::default()
        };
        assert!(!own.is_busy());
        let foreign = InUse {
            exclusive: true,
            ..InUse::default()
        };
        assert!(foreign.is_busy());
        let mixed = InUse {
            exclusive: true,
            holders: vec!["md127".into()],
            dmclass_holders: vec!["dm-0".into()],
            ..InUse::default()
        };
        assert!(mixed.is_busy());
    }
}
