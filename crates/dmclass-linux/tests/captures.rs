//! The recorded QEMU guests go through the same pure path as `probe()`: every capture disk
//! gets the kind docs/support-matrix.md says, with its ids, and each machine its environment.
#![allow(clippy::unwrap_used)]

use dmclass_linux::capture::parse_capture;
use dmclass_linux::facts_from_capture;
use dmclass_model::{BootMode, Environment};
use dmclass_rules::{DeviceKind, DiskFacts, Facts};
use std::path::PathBuf;

fn load(file: &str) -> Facts {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    facts_from_capture(&parse_capture(&text))
}

fn disk<'a>(f: &'a Facts, name: &str) -> &'a DiskFacts {
    f.disks.iter().find(|d| d.name == name).unwrap()
}

#[test]
fn kvm_guest_bios_capture() {
    let f = load("kvm-guest-bios.txt");
    assert_eq!(f.environment, Environment::KvmGuest);
    assert_eq!(f.boot, BootMode::Bios);
    assert_eq!(f.disks.len(), 2);

    let vda = disk(&f, "vda");
    assert_eq!(vda.kind, DeviceKind::VirtioBlk);
    assert_eq!(vda.devnode, PathBuf::from("/dev/vda"));
    assert_eq!(vda.serial.as_deref(), Some("kvblk1"));
    assert_eq!(vda.size.0, 524_288 * 512);
    assert_eq!(vda.controller.as_deref(), Some("virtio_blk"));
    assert_eq!(
        vda.links,
        vec![
            PathBuf::from("/dev/disk/by-id/virtio-kvblk1"),
            PathBuf::from("/dev/disk/by-path/pci-0000:00:06.0"),
            PathBuf::from("/dev/disk/by-path/virtio-pci-0000:00:06.0"),
        ]
    );

    let sda = disk(&f, "sda");
    assert_eq!(sda.kind, DeviceKind::VirtioScsi);
    assert_eq!(sda.serial.as_deref(), Some("kvscsi1"));
    assert_eq!(sda.vendor.as_deref(), Some("QEMU"));
    assert_eq!(sda.model.as_deref(), Some("QEMU_HARDDISK"));
    assert_eq!(sda.controller.as_deref(), Some("virtio_scsi"));
    assert_eq!(
        sda.wwn, None,
        "no wwn= on this disk; empty sysfs wwid is no WWN"
    );
    assert!(sda.links.contains(&PathBuf::from(
        "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_kvscsi1"
    )));
    // The recorded map is kept whole, padding included.
    assert_eq!(sda.properties["SYSFS_vendor"], "QEMU    ");
}

#[test]
fn vmware_guest_uefi_capture() {
    let f = load("vmware-guest-uefi.txt");
    assert_eq!(f.environment, Environment::VmwareGuest);
    assert_eq!(f.boot, BootMode::Uefi);

    let vmdk = disk(&f, "sda");
    assert_eq!(vmdk.kind, DeviceKind::VmwareVmdk);
    assert_eq!(vmdk.serial.as_deref(), Some("vvmdk1"));
    assert_eq!(vmdk.controller.as_deref(), Some("vmw_pvscsi"));

    let rdm = disk(&f, "sdb");
    assert_eq!(rdm.kind, DeviceKind::VmwareRdm);
    assert_eq!(rdm.wwn.as_deref(), Some("0x600000e00d280001"));
    assert_eq!(rdm.vendor.as_deref(), Some("FUJITSU"));
    assert!(rdm
        .links
        .contains(&PathBuf::from("/dev/disk/by-id/wwn-0x600000e00d280001")));

    let nvme = disk(&f, "nvme0n1");
    assert_eq!(nvme.kind, DeviceKind::Nvme);
    assert_eq!(nvme.serial.as_deref(), Some("vnvme1"));
    assert_eq!(nvme.size.0, 131_072 * 512);
    assert_eq!(nvme.links.len(), 4, "{:?}", nvme.links);
}

#[test]
fn sata_disk_in_a_vmware_guest_is_ata_not_vmware() {
    let f = load("synthetic-ata.txt");
    assert_eq!(f.environment, Environment::VmwareGuest);
    let sdc = disk(&f, "sdc");
    assert_eq!(sdc.kind, DeviceKind::Ata);
    assert_eq!(sdc.serial.as_deref(), Some("vsata1"));
    assert_eq!(sdc.controller.as_deref(), Some("ahci"));
}

#[test]
fn facts_survive_a_json_round_trip() {
    for file in ["kvm-guest-bios.txt", "vmware-guest-uefi.txt"] {
        let f = load(file);
        let json = serde_json::to_string(&f).unwrap();
        let back: Facts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }
}
