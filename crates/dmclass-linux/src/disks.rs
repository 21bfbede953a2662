//! Block disks: the udev + sysfs reader (shell) and the pure step from a recorded property
//! map to [`DiskFacts`].
//!
//! The property map carries the same keys as the captures in `shared/data/captures/`: every
//! udev property, plus `SYSFS_DRIVER` (driver of the nearest parent that has one),
//! `SCSI_HOST_PROC_NAME` (`/sys/class/scsi_host/hostN/proc_name`), `SYSFS_vendor`,
//! `SYSFS_model`, `SYSFS_wwid`, `SYSFS_serial` (verbatim, padding kept), `SCSI_TRANSPORT`
//! (`iscsi` for disks under an iSCSI session), `DEVLINKS_SORTED` and `SIZE_SECTORS`.
//! The device kind is decided by `dmclass_rules::classify` from that map.

use crate::capture::Properties;
use crate::error::LinuxError;
use crate::sysroot::SysRoot;
use dmclass_model::{Environment, Sectors};
use dmclass_rules::{classify, DiskFacts, InUse};
use std::path::PathBuf;

/// One disk as read from udev and sysfs, before blkid and in-use checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskRecord {
    /// Kernel name (`vda`).
    pub name: String,
    /// Recorded properties (see the module docs for the keys).
    pub props: Properties,
    /// Size from `/sys/block/NAME/size`.
    pub size: Sectors,
}

/// Link directories that name a disk stably (`by-diskseq` changes every boot).
const STABLE_LINK_DIRS: [&str; 2] = ["/dev/disk/by-id/", "/dev/disk/by-path/"];

/// The pure step: facts of one disk from its recorded properties.
///
/// `machine` is the detected environment, passed on to `dmclass_rules::classify` (it
/// separates VMware disks on LSI controllers from real LSI HBAs). Signatures, in-use state
/// and the dmclass label are left empty; [`crate::probe()`] fills them.
pub fn disk_facts_from(
    name: &str,
    props: Properties,
    size: Sectors,
    machine: Option<Environment>,
) -> DiskFacts {
    let get = |k: &str| {
        props
            .get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    // The kernel's uevent has `DEVNAME=vda`; udev's database `DEVNAME=/dev/vda`.
    let devnode = PathBuf::from("/dev").join(get("DEVNAME").unwrap_or_else(|| name.to_string()));
    let serial = get("ID_SERIAL_SHORT")
        .or_else(|| get("ID_SERIAL"))
        // Without udev's rules (initramfs, container) only sysfs knows the serial.
        .or_else(|| get("SYSFS_serial"));
    let wwn = get("ID_WWN").or_else(|| get("SYSFS_wwid").and_then(|w| wwn_from_wwid(&w)));
    let vendor = get("ID_VENDOR").or_else(|| get("SYSFS_vendor").filter(|v| !v.starts_with("0x")));
    let model = get("ID_MODEL").or_else(|| get("SYSFS_model"));
    let controller = get("SCSI_HOST_PROC_NAME").or_else(|| get("SYSFS_DRIVER"));
    let links = stable_links(&props);
    let kind = classify(&props, machine);
    DiskFacts {
        name: name.to_string(),
        devnode,
        kind,
        size: size.to_bytes(),
        serial,
        wwn,
        vendor,
        model,
        controller,
        links,
        signatures: Vec::new(),
        in_use: InUse::default(),
        dmclass: None,
        guest_openers: None,
        properties: props,
    }
}

/// `naa.600000e00d280001` (sysfs `wwid`) -> `0x600000e00d280001` (udev's `ID_WWN` form);
/// other designator types (`t10.`, `eui.`) are no WWN.
fn wwn_from_wwid(wwid: &str) -> Option<String> {
    let hex = wwid.strip_prefix("naa.")?;
    (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("0x{}", hex.to_ascii_lowercase()))
}

/// Stable links from `DEVLINKS` (absolute, as udev gives them) or `DEVLINKS_SORTED`
/// (relative to `/dev`, as the captures record them): by-id and by-path only, sorted.
fn stable_links(props: &Properties) -> Vec<PathBuf> {
    let raw = props
        .get("DEVLINKS")
        .or_else(|| props.get("DEVLINKS_SORTED"))
        .map_or("", String::as_str);
    let mut links: Vec<PathBuf> = raw
        .split_whitespace()
        .map(|l| {
            if l.starts_with('/') {
                PathBuf::from(l)
            } else {
                PathBuf::from("/dev").join(l)
            }
        })
        .filter(|p| {
            let s = p.to_string_lossy();
            STABLE_LINK_DIRS.iter().any(|d| s.starts_with(d))
        })
        .collect();
    links.sort();
    links.dedup();
    links
}

/// Why a disk is left out of the facts, if it is: RAM disks, zram, optical and floppy
/// drives, empty devices (no medium, unconfigured nbd), and loop devices without a backing
/// file.
pub fn skip_reason(name: &str, size: Sectors, loop_backing: bool) -> Option<&'static str> {
    if name.starts_with("ram") || name.starts_with("zram") {
        return Some("RAM disk");
    }
    if name.starts_with("sr") || name.starts_with("fd") {
        return Some("optical or floppy drive");
    }
    if size.0 == 0 {
        return Some("zero size");
    }
    if name.starts_with("loop") && !loop_backing {
        return Some("loop device without a backing file");
    }
    None
}

/// The SCSI host (`host0`) in a DEVPATH.
pub fn scsi_host(devpath: &str) -> Option<&str> {
    devpath.split('/').find(|c| is_numbered(c, "host"))
}

/// True for a disk under an iSCSI session (`.../hostN/sessionM/targetN:0:0/...`): only
/// the iSCSI transport class creates `sessionN` devices in the SCSI tree.
pub fn is_iscsi_devpath(devpath: &str) -> bool {
    devpath.split('/').any(|c| is_numbered(c, "session"))
}

fn is_numbered(component: &str, prefix: &str) -> bool {
    component
        .strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The sysfs-derived keys for disk `name` (everything but `SYSFS_DRIVER`, which needs the
/// device tree walk): `SCSI_HOST_PROC_NAME`, `SCSI_TRANSPORT`, `SYSFS_{vendor,model,wwid,
/// serial}` (present when the file exists, verbatim), `SIZE_SECTORS`.
pub fn sysfs_extras(root: &SysRoot, name: &str, devpath: &str) -> Properties {
    let mut extra = Properties::new();
    if let Some(host) = scsi_host(devpath) {
        if let Ok(p) = root.read_attr(format!("/sys/class/scsi_host/{host}/proc_name")) {
            extra.insert("SCSI_HOST_PROC_NAME".into(), p);
        }
        if is_iscsi_devpath(devpath) {
            extra.insert("SCSI_TRANSPORT".into(), "iscsi".into());
        }
    }
    for attr in ["vendor", "model", "wwid", "serial"] {
        let mut value = root.read_attr(format!("/sys/block/{name}/device/{attr}"));
        if attr == "serial" && value.is_err() {
            // virtio-blk keeps its serial on the disk, not on the virtio device.
            value = root.read_attr(format!("/sys/block/{name}/serial"));
        }
        if let Ok(v) = value {
            extra.insert(format!("SYSFS_{attr}"), v);
        }
    }
    if let Some(size) = read_size(root, name) {
        extra.insert("SIZE_SECTORS".into(), size.0.to_string());
    }
    // The unit of a partition table on this disk (a root class lays tables out
    // sector for sector, so 512 and 4096 must never be mixed).
    if let Some(lbs) = root.read_trimmed(format!("/sys/block/{name}/queue/logical_block_size")) {
        extra.insert(LOGICAL_BLOCK_SIZE.into(), lbs);
    }
    extra
}

/// Property carrying `/sys/block/NAME/queue/logical_block_size`.
pub const LOGICAL_BLOCK_SIZE: &str = "LOGICAL_BLOCK_SIZE";

/// `/sys/block/NAME/size` (always in 512-byte sectors, whatever the logical block size).
pub fn read_size(root: &SysRoot, name: &str) -> Option<Sectors> {
    root.read_trimmed(format!("/sys/block/{name}/size"))?
        .parse::<u64>()
        .ok()
        .map(Sectors)
}

/// Enumerates block disks with udev and records each one's properties.
///
/// Works without a running udevd too (containers, early boot): libudev then reports the
/// kernel's uevent properties only, and the sysfs extras still give the serial and kind.
pub fn scan_disks(root: &SysRoot) -> Result<Vec<DiskRecord>, LinuxError> {
    let udev_err = |action| move |source| LinuxError::Udev { action, source };
    let mut en = udev::Enumerator::new().map_err(udev_err("create an enumerator"))?;
    en.match_subsystem("block")
        .map_err(udev_err("filter subsystem block"))?;
    en.match_property("DEVTYPE", "disk")
        .map_err(udev_err("filter DEVTYPE=disk"))?;
    let mut disks = Vec::new();
    for dev in en
        .scan_devices()
        .map_err(udev_err("enumerate block disks"))?
    {
        let name = dev.sysname().to_string_lossy().into_owned();
        let Some(size) = read_size(root, &name) else {
            log::warn!("{name}: cannot read /sys/block/{name}/size; skipped");
            continue;
        };
        let backing = root.exists(format!("/sys/block/{name}/loop/backing_file"));
        // dmclass's own devices (volumes and hidden layers) are not disks to register or
        // scan for labels: a volume may hold anything, even a guest's dmclass disk.
        let own = root
            .read_trimmed(format!("/sys/block/{name}/dm/uuid"))
            .is_some_and(|u| u.starts_with("DMCLASS-"));
        if own {
            log::debug!("{name}: skipped (a dmclass device)");
            continue;
        }
        // A hidden disk has no device node: one path of a multipath NVMe namespace
        // (`nvme0c1n1`, e.g. a netmirror partner's disk); its head (`nvme0n1`) is the disk.
        if root
            .read_trimmed(format!("/sys/class/block/{name}/hidden"))
            .as_deref()
            == Some("1")
        {
            log::debug!("{name}: skipped (hidden: a path of a multipath namespace)");
            continue;
        }
        if let Some(why) = skip_reason(&name, size, backing) {
            log::debug!("{name}: skipped ({why})");
            continue;
        }
        let mut props: Properties = dev
            .properties()
            .map(|p| {
                (
                    p.name().to_string_lossy().into_owned(),
                    p.value().to_string_lossy().into_owned(),
                )
            })
            .collect();
        let devpath = props.get("DEVPATH").cloned().unwrap_or_default();
        props.extend(sysfs_extras(root, &name, &devpath));
        if let Some(driver) = nearest_driver(&dev) {
            props.insert("SYSFS_DRIVER".into(), driver);
        }
        if let Some(links) = props.get("DEVLINKS") {
            let mut rel: Vec<&str> = links
                .split_whitespace()
                .map(|l| l.strip_prefix("/dev/").unwrap_or(l))
                .collect();
            rel.sort_unstable();
            props.insert("DEVLINKS_SORTED".into(), rel.join(" "));
        }
        disks.push(DiskRecord { name, props, size });
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(disks)
}

/// The driver of the disk's nearest ancestor that has one (`sd` for a SCSI disk,
/// `virtio_blk` for a virtio disk, `nvme` for an NVMe namespace).
fn nearest_driver(dev: &udev::Device) -> Option<String> {
    let mut cur = dev.parent();
    while let Some(d) = cur {
        if let Some(drv) = d.driver() {
            return Some(drv.to_string_lossy().into_owned());
        }
        cur = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn skips() {
        assert_eq!(skip_reason("ram0", Sectors(8), false), Some("RAM disk"));
        assert_eq!(skip_reason("zram0", Sectors(8), false), Some("RAM disk"));
        assert!(skip_reason("sr0", Sectors(8), false).is_some());
        assert!(skip_reason("fd0", Sectors(8), false).is_some());
        assert_eq!(skip_reason("sdb", Sectors(0), false), Some("zero size"));
        assert!(skip_reason("loop0", Sectors(8), false).is_some());
        assert_eq!(skip_reason("loop0", Sectors(8), true), None);
        assert_eq!(skip_reason("vda", Sectors(8), false), None);
        assert_eq!(skip_reason("nvme0n1", Sectors(1), false), None);
    }

    #[test]
    fn devpath_helpers() {
        let p = "/devices/pci0000:00/0000:00:04.0/virtio0/host0/target0:0:0/0:0:0:0/block/sda";
        assert_eq!(scsi_host(p), Some("host0"));
        assert!(!is_iscsi_devpath(p));
        let i = "/devices/platform/host3/session1/target3:0:0/3:0:0:1/block/sdc";
        assert_eq!(scsi_host(i), Some("host3"));
        assert!(is_iscsi_devpath(i));
        assert_eq!(
            scsi_host("/devices/pci0000:00/0000:00:06.0/virtio1/block/vda"),
            None
        );
        assert_eq!(scsi_host("/devices/hostx/block/sda"), None);
    }

    #[test]
    fn wwn_and_links() {
        assert_eq!(
            wwn_from_wwid("naa.600000E00D280001").as_deref(),
            Some("0x600000e00d280001")
        );
        assert_eq!(wwn_from_wwid("t10.ATA foo"), None);
        assert_eq!(wwn_from_wwid("naa."), None);
        let p = props(&[(
            "DEVLINKS",
            "/dev/disk/by-path/b /dev/disk/by-diskseq/3 /dev/disk/by-id/a /dev/disk/by-id/a",
        )]);
        assert_eq!(
            stable_links(&p),
            vec![
                PathBuf::from("/dev/disk/by-id/a"),
                PathBuf::from("/dev/disk/by-path/b")
            ]
        );
    }

    #[test]
    fn facts_without_udev_rules_fall_back_to_sysfs() {
        // What this crate records for a virtio disk when udevd never ran.
        let p = props(&[
            ("DEVNAME", "vdb"),
            (
                "DEVPATH",
                "/devices/pci0000:00/0000:00:07.0/virtio2/block/vdb",
            ),
            ("SYSFS_DRIVER", "virtio_blk"),
            ("SYSFS_vendor", "0x1af4"),
            ("SYSFS_serial", "data1\n"),
        ]);
        let f = disk_facts_from("vdb", p, Sectors(2048), None);
        assert_eq!(f.kind, dmclass_rules::DeviceKind::VirtioBlk);
        assert_eq!(f.devnode, PathBuf::from("/dev/vdb"));
        assert_eq!(f.serial.as_deref(), Some("data1"));
        assert_eq!(f.vendor, None, "a PCI vendor id is no vendor name");
        assert_eq!(f.controller.as_deref(), Some("virtio_blk"));
        assert_eq!(f.size.0, 2048 * 512);
        assert!(f.links.is_empty());
    }

    #[test]
    fn sysfs_extras_from_a_fake_tree() {
        let t = TempTree::new("extras");
        t.write("/sys/class/scsi_host/host0/proc_name", "vmw_pvscsi\n");
        t.write("/sys/block/sdb/device/vendor", "FUJITSU \n");
        t.write("/sys/block/sdb/device/model", "ETERNUS_DXL     \n");
        t.write("/sys/block/sdb/device/wwid", "naa.600000e00d280001\n");
        t.write("/sys/block/sdb/size", "524288\n");
        let root = SysRoot::new(t.path());
        let dp = "/devices/pci0000:00/0000:00:04.0/host0/target0:0:1/0:0:1:0/block/sdb";
        let e = sysfs_extras(&root, "sdb", dp);
        assert_eq!(e["SCSI_HOST_PROC_NAME"], "vmw_pvscsi");
        assert_eq!(e["SYSFS_vendor"], "FUJITSU ");
        assert_eq!(e["SYSFS_model"], "ETERNUS_DXL     ");
        assert_eq!(e["SYSFS_wwid"], "naa.600000e00d280001");
        assert_eq!(e["SIZE_SECTORS"], "524288");
        assert!(!e.contains_key("SYSFS_serial"));
        assert!(!e.contains_key("SCSI_TRANSPORT"));

        // virtio-blk: serial on the disk, vendor on the virtio device, no SCSI host.
        t.write("/sys/block/vda/serial", "kvblk1\n");
        t.write("/sys/block/vda/device/vendor", "0x1af4\n");
        let e = sysfs_extras(
            &root,
            "vda",
            "/devices/pci0000:00/0000:00:06.0/virtio1/block/vda",
        );
        assert_eq!(e["SYSFS_serial"], "kvblk1");
        assert_eq!(e["SYSFS_vendor"], "0x1af4");
        assert!(!e.contains_key("SCSI_HOST_PROC_NAME"));
        assert_eq!(read_size(&root, "vda"), None);
    }
}
