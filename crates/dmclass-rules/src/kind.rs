//! Device kinds (docs/support-matrix.md).

use dmclass_model::Environment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

/// SCSI host drivers (`proc_name`) of the virtual SCSI controllers vSphere offers: PVSCSI,
/// LSI Logic Parallel, LSI Logic SAS and BusLogic. Only `vmw_pvscsi` exists nowhere else;
/// the other three also drive real (or other hypervisors' emulated) HBAs.
pub const VMWARE_SCSI_CONTROLLERS: [&str; 4] = ["vmw_pvscsi", "mptspi", "mptsas", "BusLogic"];

/// Classifies one block disk from its udev properties and the sysfs extras the prober adds.
///
/// Keys read (all optional): `DEVNAME`, `DEVPATH`, `ID_BUS`, `ID_VENDOR`, `ID_MODEL`,
/// `ID_PATH`, `SYSFS_DRIVER`, `SCSI_HOST_PROC_NAME`, `SYSFS_vendor`, `SYSFS_model`,
/// `SCSI_TRANSPORT`, `DM_NAME`, `MD_LEVEL`.
///
/// `machine` is the environment of the machine the disk is seen from, when known. It only
/// matters for disks on `mptspi`, `mptsas` and `BusLogic` hosts: those drivers also run real
/// LSI/BusLogic HBAs, so such a disk is a VMware disk only on a `vmware-guest`; with `None`
/// the inquiry data decides (a `VMware`/`Virtual disk` inquiry is a VMDK; anything else is
/// plain `scsi`, because an RDM cannot be told from a real array LUN without the machine).
/// A disk on `vmw_pvscsi` is always on a VMware virtual controller.
///
/// Pure: no filesystem access; unknown or malformed values give [`DeviceKind::Unknown`]
/// or a less specific kind, never a panic.
pub fn classify(props: &BTreeMap<String, String>, machine: Option<Environment>) -> DeviceKind {
    let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let name = kernel_name(props);
    let driver = get("SYSFS_DRIVER");
    let proc_name = get("SCSI_HOST_PROC_NAME");
    let devpath = get("DEVPATH").unwrap_or("");
    let id_path = get("ID_PATH").unwrap_or("");

    if get("DM_NAME").is_some() || name.starts_with("dm-") {
        return DeviceKind::Dm;
    }
    if get("MD_LEVEL").is_some() || is_numbered(name, "md") {
        return DeviceKind::Md;
    }
    if is_numbered(name, "loop") {
        return DeviceKind::Loop;
    }
    if is_numbered(name, "nbd") {
        return DeviceKind::Nbd;
    }
    if name.starts_with("nvme") || driver == Some("nvme") || devpath.contains("/nvme/") {
        return DeviceKind::Nvme;
    }
    if driver == Some("virtio_blk") || name.starts_with("vd") {
        return DeviceKind::VirtioBlk;
    }
    if get("SCSI_TRANSPORT").is_some_and(|t| t.eq_ignore_ascii_case("iscsi"))
        || id_path.contains("-iscsi-")
        || proc_name.is_some_and(|p| p.starts_with("iscsi"))
    {
        return DeviceKind::Iscsi;
    }
    if let Some(p) = proc_name {
        if p == "virtio_scsi" {
            return DeviceKind::VirtioScsi;
        }
        if is_ata_host(p) {
            return DeviceKind::Ata;
        }
        if VMWARE_SCSI_CONTROLLERS.contains(&p) {
            return vmware_controller_kind(props, p, machine);
        }
    }
    if get("ID_BUS") == Some("ata") {
        return DeviceKind::Ata;
    }
    if get("ID_BUS") == Some("scsi")
        || driver == Some("sd")
        || proc_name.is_some()
        || is_lettered(name, "sd")
    {
        return DeviceKind::Scsi;
    }
    DeviceKind::Unknown
}

/// True when the inquiry data is VMware's virtual disk (`VMware`/`Virtual disk` on ESXi,
/// `VMware,`/`VMware Virtual S` on Workstation), from udev's `ID_*` or the sysfs fields.
pub fn is_vmware_virtual_disk(props: &BTreeMap<String, String>) -> bool {
    let get = |k: &str| props.get(k).map_or("", |v| v.trim());
    let vendor_ok = [get("ID_VENDOR"), get("SYSFS_vendor")]
        .iter()
        .any(|v| v.starts_with("VMware"));
    let model_ok = [get("ID_MODEL"), get("SYSFS_model")].iter().any(|m| {
        let m = m.replace(' ', "_");
        m.starts_with("Virtual_disk") || m.starts_with("VMware_Virtual_S")
    });
    vendor_ok && model_ok
}

fn vmware_controller_kind(
    props: &BTreeMap<String, String>,
    proc_name: &str,
    machine: Option<Environment>,
) -> DeviceKind {
    let vmdk = is_vmware_virtual_disk(props);
    let on_vmware = match machine {
        Some(env) => proc_name == "vmw_pvscsi" || env == Environment::VmwareGuest,
        // Unknown machine: trust the controller for PVSCSI, the inquiry data otherwise.
        None => proc_name == "vmw_pvscsi" || vmdk,
    };
    match (on_vmware, vmdk) {
        (false, _) => DeviceKind::Scsi,
        (true, true) => DeviceKind::VmwareVmdk,
        (true, false) => DeviceKind::VmwareRdm,
    }
}

/// libata SCSI hosts: `ahci`, `ata_piix`, `sata_*`, `pata_*`, `ata_*`.
fn is_ata_host(proc_name: &str) -> bool {
    proc_name == "ahci"
        || proc_name.starts_with("ata_")
        || proc_name.starts_with("sata_")
        || proc_name.starts_with("pata_")
}

/// Kernel name from `DEVNAME` (`/dev/sda` -> `sda`), else the last `DEVPATH` component.
fn kernel_name(props: &BTreeMap<String, String>) -> &str {
    let last = |s: &'static str| {
        props
            .get(s)
            .and_then(|v| v.trim().rsplit('/').next())
            .filter(|n| !n.is_empty())
    };
    last("DEVNAME").or_else(|| last("DEVPATH")).unwrap_or("")
}

/// `prefix` followed by one or more digits (`md0`, `loop12`, `nbd3`; not `mdadm`).
fn is_numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// `prefix` followed by one or more lowercase letters (`sda`, `sdab`).
fn is_lettered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase()))
}
