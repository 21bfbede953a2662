//! Device-kind classification against every captured disk and the VMware variants of
//! the VMware disk variants GDS supports (docs/support-matrix.md).
mod common;

use common::{parse_capture, KVM_CAPTURE, VMWARE_CAPTURE};
use dmclass_rules::{classify, DeviceKind, Environment};
use std::collections::BTreeMap;

#[test]
fn every_captured_disk_is_classified() {
    let cases = [
        (
            KVM_CAPTURE,
            Environment::KvmGuest,
            "sda",
            DeviceKind::VirtioScsi,
        ),
        (
            KVM_CAPTURE,
            Environment::KvmGuest,
            "vda",
            DeviceKind::VirtioBlk,
        ),
        (
            VMWARE_CAPTURE,
            Environment::VmwareGuest,
            "sda",
            DeviceKind::VmwareVmdk,
        ),
        (
            VMWARE_CAPTURE,
            Environment::VmwareGuest,
            "sdb",
            DeviceKind::VmwareRdm,
        ),
        (
            VMWARE_CAPTURE,
            Environment::VmwareGuest,
            "nvme0n1",
            DeviceKind::Nvme,
        ),
    ];
    for text in [KVM_CAPTURE, VMWARE_CAPTURE] {
        let cap = parse_capture(text);
        for name in cap.disks.keys() {
            assert!(
                cases.iter().any(|(t, _, n, _)| *t == text && n == name),
                "captured disk {name} has no expected kind in this table"
            );
        }
    }
    for (text, env, name, want) in cases {
        let cap = parse_capture(text);
        let props = &cap.disks[name];
        assert_eq!(classify(props, Some(env)), want, "{name} with {env}");
        assert_eq!(classify(props, None), want, "{name} with unknown machine");
    }
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A SCSI disk on `host` with the given udev vendor/model.
fn scsi(host: &str, vendor: &str, model: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DEVNAME", "/dev/sdc".to_string()),
        ("ID_BUS", "scsi".to_string()),
        ("SYSFS_DRIVER", "sd".to_string()),
        ("SCSI_HOST_PROC_NAME", host.to_string()),
        ("ID_VENDOR", vendor.to_string()),
        ("ID_MODEL", model.to_string()),
    ]
}

/// What, properties, machine, expected kind.
type Case = (
    &'static str,
    Vec<(&'static str, String)>,
    Option<Environment>,
    DeviceKind,
);

#[test]
fn hand_made_variants() {
    use DeviceKind as K;
    let vm = Some(Environment::VmwareGuest);
    let kvm = Some(Environment::KvmGuest);
    let bm = Some(Environment::BareMetal);
    let cases: Vec<Case> = vec![
        (
            "pvscsi vmdk",
            scsi("vmw_pvscsi", "VMware", "Virtual_disk"),
            vm,
            K::VmwareVmdk,
        ),
        (
            "workstation",
            scsi("mptspi", "VMware_", "VMware_Virtual_S"),
            vm,
            K::VmwareVmdk,
        ),
        (
            "workstation comma",
            scsi("BusLogic", "VMware,", "VMware_Virtual_S"),
            vm,
            K::VmwareVmdk,
        ),
        (
            "lsi sas vmdk",
            scsi("mptsas", "VMware", "Virtual_disk"),
            vm,
            K::VmwareVmdk,
        ),
        (
            "lsi sas rdm",
            scsi("mptsas", "NETAPP", "LUN_C-Mode"),
            vm,
            K::VmwareRdm,
        ),
        (
            "mptspi rdm",
            scsi("mptspi", "FUJITSU", "ETERNUS_DXL"),
            vm,
            K::VmwareRdm,
        ),
        (
            "mptspi on bare metal",
            scsi("mptspi", "SEAGATE", "ST373455LC"),
            bm,
            K::Scsi,
        ),
        (
            "mptsas on kvm",
            scsi("mptsas", "QEMU", "QEMU_HARDDISK"),
            kvm,
            K::Scsi,
        ),
        (
            "mptsas unknown machine",
            scsi("mptsas", "HGST", "HUS726040"),
            None,
            K::Scsi,
        ),
        (
            "mptsas unknown machine vmdk",
            scsi("mptsas", "VMware", "Virtual_disk"),
            None,
            K::VmwareVmdk,
        ),
        (
            "pvscsi unknown machine rdm",
            scsi("vmw_pvscsi", "EMC", "SYMMETRIX"),
            None,
            K::VmwareRdm,
        ),
        (
            "virtio-scsi",
            scsi("virtio_scsi", "QEMU", "QEMU_HARDDISK"),
            kvm,
            K::VirtioScsi,
        ),
        (
            "vmware sata",
            scsi("ahci", "ATA", "VMware_Virtual_SATA_Hard_Drive"),
            vm,
            K::Ata,
        ),
        (
            "ata_piix",
            scsi("ata_piix", "ATA", "QEMU_HARDDISK"),
            kvm,
            K::Ata,
        ),
        (
            "megaraid",
            scsi("megaraid_sas", "DELL", "PERC_H730"),
            bm,
            K::Scsi,
        ),
        (
            "iscsi host",
            scsi("iscsi_tcp", "LIO-ORG", "disk1"),
            bm,
            K::Iscsi,
        ),
    ];
    for (what, pairs, env, want) in cases {
        let p: BTreeMap<String, String> =
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(classify(&p, env), want, "{what}");
    }
}

#[test]
fn enable_uuid_vmdk_and_sysfs_only_inquiry() {
    // disk.EnableUUID=TRUE: NAA 6000c29... serial; still a VMDK.
    let p = props(&[
        ("DEVNAME", "/dev/sdb"),
        ("ID_BUS", "scsi"),
        ("SCSI_HOST_PROC_NAME", "vmw_pvscsi"),
        ("ID_VENDOR", "VMware"),
        ("ID_MODEL", "Virtual_disk"),
        ("ID_SERIAL", "36000c2907159c1057f111400f66d4642"),
        ("ID_WWN", "0x6000c2907159c105"),
    ]);
    assert_eq!(
        classify(&p, Some(Environment::VmwareGuest)),
        DeviceKind::VmwareVmdk
    );
    // EnableUUID off: no ID_* inquiry from scsi_id, only the sysfs vendor/model.
    let p = props(&[
        ("DEVNAME", "/dev/sda"),
        ("SYSFS_DRIVER", "sd"),
        ("SCSI_HOST_PROC_NAME", "mptspi"),
        ("SYSFS_vendor", "VMware  "),
        ("SYSFS_model", "Virtual disk    "),
    ]);
    assert_eq!(
        classify(&p, Some(Environment::VmwareGuest)),
        DeviceKind::VmwareVmdk
    );
}

#[test]
fn vmware_nvme_and_sata_are_not_vmdk() {
    let nvme = props(&[
        ("DEVNAME", "/dev/nvme0n1"),
        ("ID_MODEL", "VMware Virtual NVMe Disk"),
        ("ID_SERIAL", "VMware_Virtual_NVMe_Disk_abc_1"),
    ]);
    assert_eq!(
        classify(&nvme, Some(Environment::VmwareGuest)),
        DeviceKind::Nvme
    );
    let sata = props(&[
        ("DEVNAME", "/dev/sda"),
        ("ID_BUS", "ata"),
        ("ID_MODEL", "VMware_Virtual_SATA_Hard_Drive"),
    ]);
    assert_eq!(
        classify(&sata, Some(Environment::VmwareGuest)),
        DeviceKind::Ata
    );
}

#[test]
fn kernel_level_kinds() {
    let cases = [
        (
            vec![("DEVNAME", "/dev/dm-3"), ("DM_NAME", "vg-lv")],
            DeviceKind::Dm,
        ),
        (vec![("DEVNAME", "/dev/dm-0")], DeviceKind::Dm),
        (
            vec![("DEVNAME", "/dev/md127"), ("MD_LEVEL", "raid1")],
            DeviceKind::Md,
        ),
        (vec![("DEVNAME", "/dev/md0")], DeviceKind::Md),
        (vec![("DEVNAME", "/dev/loop7")], DeviceKind::Loop),
        (vec![("DEVNAME", "/dev/nbd0")], DeviceKind::Nbd),
        (
            vec![("DEVPATH", "/devices/virtual/block/nbd2")],
            DeviceKind::Nbd,
        ),
        (vec![("DEVNAME", "/dev/vdb")], DeviceKind::VirtioBlk),
        (
            vec![("DEVNAME", "/dev/xyz"), ("SYSFS_DRIVER", "virtio_blk")],
            DeviceKind::VirtioBlk,
        ),
        (
            vec![("DEVNAME", "/dev/sdd"), ("SCSI_TRANSPORT", "iscsi")],
            DeviceKind::Iscsi,
        ),
        (
            vec![
                ("DEVNAME", "/dev/sde"),
                ("ID_PATH", "ip-10.0.0.1:3260-iscsi-iqn.2003-01.org:t1-lun-0"),
            ],
            DeviceKind::Iscsi,
        ),
        (vec![("DEVNAME", "/dev/sdf")], DeviceKind::Scsi),
        (vec![("DEVNAME", "/dev/mmcblk0")], DeviceKind::Unknown),
        (vec![("DEVNAME", "/dev/mdadm")], DeviceKind::Unknown),
        (vec![], DeviceKind::Unknown),
    ];
    for (pairs, want) in cases {
        assert_eq!(classify(&props(&pairs), None), want, "{pairs:?}");
    }
}
