//! The QEMU command line and the `-device` properties shared with QMP `device_add`.

use crate::image::ImagePaths;
use crate::spec::{Bus, DiskSpec, Firmware, IoOp, Personality, VmSpec};
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One `-device` property value; numbers stay numbers for QMP's typed `device_add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prop {
    Str(String),
    Num(u64),
    /// A number written in hex on the command line (WWNs read better that way).
    Hex(u64),
}

/// A disk's guest device: driver and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceProps {
    pub driver: &'static str,
    pub props: Vec<(&'static str, Prop)>,
}

impl DeviceProps {
    /// `driver,key=value,...` with commas in values doubled (QEMU option syntax).
    pub fn to_cli(&self) -> String {
        let mut s = self.driver.to_string();
        for (k, v) in &self.props {
            s.push(',');
            s.push_str(k);
            s.push('=');
            match v {
                Prop::Str(t) => s.push_str(&t.replace(',', ",,")),
                Prop::Num(n) => s.push_str(&n.to_string()),
                Prop::Hex(n) => {
                    let _ = write!(s, "{n:#x}");
                }
            }
        }
        s
    }

    /// The QMP `device_add` arguments.
    pub fn to_qmp(&self) -> Value {
        let mut m = Map::new();
        m.insert("driver".into(), Value::from(self.driver));
        for (k, v) in &self.props {
            let value = match v {
                Prop::Str(t) => Value::from(t.as_str()),
                Prop::Num(n) | Prop::Hex(n) => Value::from(*n),
            };
            m.insert((*k).to_string(), value);
        }
        Value::Object(m)
    }
}

/// The guest device of `disk`; `scsi_id` is its target number on its SCSI bus.
pub(crate) fn device_props(disk: &DiskSpec, scsi_id: u64) -> DeviceProps {
    let mut props = vec![
        ("drive", Prop::Str(disk.id.clone())),
        ("id", Prop::Str(format!("dev-{}", disk.id))),
    ];
    let driver = match disk.bus {
        Bus::VirtioBlk => "virtio-blk-pci",
        Bus::Nvme => "nvme",
        Bus::VirtioScsi | Bus::Pvscsi => {
            let bus = if disk.bus == Bus::Pvscsi {
                "pv0.0"
            } else {
                "scsi0.0"
            };
            props.push(("bus", Prop::Str(bus.into())));
            props.push(("scsi-id", Prop::Num(scsi_id)));
            props.push(("lun", Prop::Num(0)));
            if let Some(v) = &disk.vendor {
                props.push(("vendor", Prop::Str(v.clone())));
            }
            if let Some(p) = &disk.product {
                props.push(("product", Prop::Str(p.clone())));
            }
            if let Some(w) = disk.wwn {
                props.push(("wwn", Prop::Hex(w)));
            }
            "scsi-hd"
        }
    };
    if let Some(s) = &disk.serial {
        props.push(("serial", Prop::Str(s.clone())));
    }
    if disk.shared {
        props.push(("share-rw", Prop::Str("on".into())));
    }
    DeviceProps { driver, props }
}

/// Devices of every disk in spec order; SCSI target numbers count per controller.
pub(crate) fn all_device_props(spec: &VmSpec) -> Vec<DeviceProps> {
    let (mut virtio_scsi, mut pvscsi) = (0, 0);
    // The firmware tries the disks in disk order (without `bootindex`, OVMF falls
    // into its shell when the first disk is gone).
    let mut boot = 0;
    spec.disks
        .iter()
        .map(|d| {
            let n = match d.bus {
                Bus::VirtioScsi => Some(&mut virtio_scsi),
                Bus::Pvscsi => Some(&mut pvscsi),
                Bus::VirtioBlk | Bus::Nvme => None,
            };
            let mut props = match n {
                Some(n) => {
                    let p = device_props(d, *n);
                    *n += 1;
                    p
                }
                None => device_props(d, 0),
            };
            // Every disk can become bootable (a root class copies the ESP to a blank
            // disk), so every disk gets a place in the boot order.
            if spec.boots_from_disk() {
                boot += 1;
                props.props.push(("bootindex", Prop::Num(boot)));
            }
            props
        })
        .collect()
}

/// The `-blockdev` options of a disk: file node, optional blkdebug node, raw node.
pub(crate) fn blockdev_args(disk: &DiskSpec, file: &Path) -> Vec<String> {
    let id = &disk.id;
    // A shared disk is opened by two QEMU processes: no image lock.
    let locking = if disk.shared { ",locking=off" } else { "" };
    let mut out = vec![format!(
        "driver=file,filename={},node-name=f-{id}{locking}",
        file.display().to_string().replace(',', ",,")
    )];
    let mut top = format!("f-{id}");
    if !disk.inject.is_empty() {
        let mut b = format!("driver=blkdebug,image=f-{id},node-name=b-{id}");
        for (i, e) in disk.inject.iter().enumerate() {
            // `event` only arms the rule (the raw driver raises read_aio/write_aio on
            // its first request); `iotype` is what limits it to reads or writes —
            // without it an armed rule fails every request touching the sector.
            let (event, iotype) = match e.op {
                IoOp::Read => ("read_aio", "read"),
                IoOp::Write => ("write_aio", "write"),
            };
            let once = if e.once { "on" } else { "off" };
            let _ = write!(
                b,
                ",inject-error.{i}.event={event},inject-error.{i}.iotype={iotype},\
                 inject-error.{i}.errno={},inject-error.{i}.sector={},\
                 inject-error.{i}.once={once}",
                e.errno, e.sector.0
            );
        }
        out.push(b);
        top = format!("b-{id}");
    }
    if disk.limit.is_some() {
        out.push(format!(
            "driver=throttle,throttle-group={},file={top},node-name=t-{id}",
            throttle_group(disk)
        ));
        top = format!("t-{id}");
    }
    out.push(format!("driver=raw,file={top},node-name={id}"));
    out
}

/// The throttle group of a disk with [`DiskSpec::io_limit`].
pub(crate) fn throttle_group(disk: &DiskSpec) -> String {
    format!("tg-{}", disk.id)
}

/// Paths of one VM instance.
pub(crate) struct Paths<'a> {
    pub image: &'a ImagePaths,
    pub ovmf: PathBuf,
    /// OVMF's code and this VM's variable store ([`VmSpec::efi_vars`]).
    pub efi_vars: Option<(&'a Path, &'a Path)>,
    pub console_log: &'a Path,
    pub agent_sock: &'a Path,
    pub qmp_sock: &'a Path,
    pub disk_file: &'a dyn Fn(&DiskSpec) -> PathBuf,
    /// Disks whose guest device is left out at boot (the block node stays, so
    /// `device_add` can attach them later with the same properties).
    pub absent: &'a [String],
    /// The command line for this boot instead of the spec's (a `-kernel` boot:
    /// [`crate::Vm::start_with_cmdline`]).
    pub append: Option<&'a str>,
}

/// The generation mark on a UKI's command line, followed by `1` ([`crate::Vm::uki_generation_offset`]).
pub(crate) const UKI_GENERATION_MARK: &str = "dmclass.vmtest.uki=";

/// The kernel command line, given with `-append` or built into the ESP's kernel image.
pub(crate) fn kernel_cmdline(spec: &VmSpec) -> String {
    let root = spec
        .disks
        .iter()
        .find(|d| d.root && spec.runs_from_disk())
        .map(|d| {
            format!(
                " dmclass.vmtest.root=/dev/disk/by-uuid/{}",
                crate::bootdisk::root_fs_uuid(&d.id)
            )
        })
        .unwrap_or_default();
    // NVMe under TCG on a loaded 2-core machine can take longer than the driver's 30 s
    // I/O timeout (seen: abort, controller reset, a boot that never ends), so wait
    // longer; but not 600 s: the timeout is also when the driver polls the completion
    // queue, and a completion whose interrupt QEMU lost was then never seen within a
    // boot's 240 s (seen once in CI: every NVMe I/O of the guest stuck from 10 s on).
    let host = if spec.personality == Personality::KvmHost {
        " dmclass.vmtest.kvmhost nvme_core.io_timeout=120"
    } else {
        ""
    };
    let generation = if spec.boots_from_disk() {
        format!(" {UKI_GENERATION_MARK}1")
    } else {
        String::new()
    };
    let ip = spec
        .link
        .as_ref()
        .map(|l| format!(" dmclass.vmtest.ip={}", l.address))
        .unwrap_or_default();
    format!(
        "console=ttyS0 panic=-1{root}{host}{generation}{ip} {}",
        spec.extra_append
    )
    .trim()
    .to_string()
}

/// The full QEMU argument list (without the program).
pub(crate) fn args(spec: &VmSpec, p: &Paths<'_>) -> Vec<OsString> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| (*s).to_string()));
    push(&["-accel", "tcg", "-machine", "pc", "-smp", "1"]);
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    let mem = spec.memory_mib.to_string();
    push(&["-m", &mem]);
    if spec.firmware == Firmware::Uefi {
        match p.efi_vars {
            Some((code, vars)) if spec.efi_vars => {
                let code = format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={}",
                    code.display()
                );
                let vars = format!("if=pflash,format=raw,unit=1,file={}", vars.display());
                push(&["-drive", &code, "-drive", &vars]);
            }
            _ => {
                let ovmf = p.ovmf.display().to_string();
                push(&["-bios", &ovmf]);
            }
        }
    }
    if !spec.boots_from_disk() {
        let kernel = p.image.kernel.display().to_string();
        let initrd = p.image.initrd.display().to_string();
        let append = p.append.map_or_else(|| kernel_cmdline(spec), str::to_owned);
        push(&["-kernel", &kernel, "-initrd", &initrd, "-append", &append]);
    }
    let con = format!(
        "file,id=con,path={},append=on",
        p.console_log.display().to_string().replace(',', ",,")
    );
    push(&["-chardev", &con, "-serial", "chardev:con"]);
    let agent = format!(
        "socket,id=agent,path={},server=on,wait=off",
        p.agent_sock.display().to_string().replace(',', ",,")
    );
    push(&["-chardev", &agent, "-device", "virtio-serial-pci,id=vser0"]);
    push(&["-device", "virtserialport,chardev=agent,name=dmclass.agent"]);
    let qmp = format!(
        "unix:{},server=on,wait=off",
        p.qmp_sock.display().to_string().replace(',', ",,")
    );
    push(&["-qmp", &qmp]);
    if spec.personality == Personality::VmwareGuest {
        // TCG answers CPUID 0x40000000 with "TCGTCGTCGTCG", which detection (like
        // systemd-detect-virt) trusts before DMI; TCG cannot say "VMwareVMware", so the
        // leaf is switched off and the VMware DMI data below decides.
        push(&["-cpu", "qemu64,tcg-cpuid=off"]);
        push(&[
            "-smbios",
            "type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform",
        ]);
    }
    if spec.personality == Personality::KvmHost {
        // Bare metal to the guest: no hypervisor bit, no TCG leaf, a server's SMBIOS.
        push(&["-cpu", "qemu64,tcg-cpuid=off,hypervisor=off"]);
        push(&[
            "-smbios",
            "type=0,vendor=FUJITSU // American Megatrends Inc.",
        ]);
        push(&[
            "-smbios",
            "type=1,manufacturer=FUJITSU,product=PRIMERGY RX2540 M5",
        ]);
        push(&["-smbios", "type=2,manufacturer=FUJITSU"]);
    }
    // The personality's controller is always there so disks can be hot-added later.
    let has = |b: Bus| spec.disks.iter().any(|d| d.bus == b);
    if spec.personality == Personality::KvmGuest || has(Bus::VirtioScsi) {
        push(&["-device", "virtio-scsi-pci,id=scsi0"]);
    }
    if spec.personality == Personality::VmwareGuest || has(Bus::Pvscsi) {
        push(&["-device", "pvscsi,id=pv0"]);
    }
    if let Some(l) = &spec.link {
        let server = if l.listen { "on" } else { "off" };
        let net = format!(
            "stream,id=net0,server={server},addr.type=unix,addr.path={}",
            l.socket.display().to_string().replace(',', ",,")
        );
        push(&["-netdev", &net]);
        // The MAC differs per end (the listening end is ...:01).
        let mac = format!("52:54:00:d3:c1:{:02x}", if l.listen { 1 } else { 2 });
        let dev = format!("virtio-net-pci,netdev=net0,mac={mac}");
        push(&["-device", &dev]);
    }
    for (disk, dev) in spec.disks.iter().zip(all_device_props(spec)) {
        if let Some(l) = disk.limit {
            let tg = format!(
                "throttle-group,id={},x-bps-read={},x-bps-write={}",
                throttle_group(disk),
                l.read_bps,
                l.write_bps
            );
            push(&["-object", &tg]);
        }
        for b in blockdev_args(disk, &(p.disk_file)(disk)) {
            push(&["-blockdev", &b]);
        }
        if p.absent.contains(&disk.id) {
            continue;
        }
        let d = dev.to_cli();
        push(&["-device", &d]);
    }
    a.into_iter().map(OsString::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::InjectedError;
    use dmclass_model::{Bytes, Sectors};

    #[test]
    fn rdm_device_has_vendor_product_wwn_and_numeric_qmp_values() {
        let d = DiskSpec::rdm("r1", "vrdm1", 0x6000_00e0_0d28_0001, Bytes(1 << 20));
        let p = device_props(&d, 3);
        assert_eq!(
            p.to_cli(),
            "scsi-hd,drive=r1,id=dev-r1,bus=pv0.0,scsi-id=3,lun=0,vendor=FUJITSU,\
             product=ETERNUS_DXL,wwn=0x600000e00d280001,serial=vrdm1"
        );
        let q = p.to_qmp();
        assert_eq!(q["wwn"], Value::from(0x6000_00e0_0d28_0001_u64));
        assert_eq!(q["scsi-id"], Value::from(3));
        assert_eq!(q["driver"], Value::from("scsi-hd"));
        assert_eq!(
            d.expected_by_id().as_deref(),
            Some("wwn-0x600000e00d280001")
        );
        assert_eq!(d.expected_serial().as_deref(), Some("600000e00d280001"));
        assert_eq!(d.expected_kind(), "vmware-rdm");
    }

    #[test]
    fn blkdebug_node_sits_between_file_and_raw() {
        let d = DiskSpec::virtio_blk("d1", "s1", Bytes(1 << 20)).with_error(InjectedError {
            op: IoOp::Read,
            sector: Sectors(2048),
            errno: 5,
            once: false,
        });
        let b = blockdev_args(&d, Path::new("/r/a,b.raw"));
        assert_eq!(b[0], "driver=file,filename=/r/a,,b.raw,node-name=f-d1");
        assert!(b[1].starts_with("driver=blkdebug,image=f-d1,node-name=b-d1,"));
        assert!(b[1].contains("inject-error.0.event=read_aio"));
        assert!(b[1].contains("inject-error.0.sector=2048"));
        assert_eq!(b[2], "driver=raw,file=b-d1,node-name=d1");
    }

    #[test]
    fn an_io_limit_puts_a_throttle_node_under_the_raw_node() {
        let d = DiskSpec::virtio_blk("d1", "s1", Bytes(1 << 20)).io_limit(crate::IoLimit {
            read_bps: 0,
            write_bps: 4096,
        });
        let b = blockdev_args(&d, Path::new("/r/d1.raw"));
        assert_eq!(
            b[1],
            "driver=throttle,throttle-group=tg-d1,file=f-d1,node-name=t-d1"
        );
        assert_eq!(b[2], "driver=raw,file=t-d1,node-name=d1");
    }

    #[test]
    fn kernel_from_qemu_under_uefi_runs_from_the_root_disk_without_boot_indexes() {
        let spec = VmSpec::new("t", Personality::VmwareGuest, Firmware::Uefi)
            .disk(DiskSpec::vmdk("a", "a", Bytes(512)).with_root())
            .disk(DiskSpec::vmdk("b", "b", Bytes(512)))
            .kernel_from_qemu();
        assert!(!spec.boots_from_disk());
        assert!(spec.runs_from_disk());
        let cmdline = kernel_cmdline(&spec);
        assert!(cmdline.contains(&format!(
            "dmclass.vmtest.root=/dev/disk/by-uuid/{}",
            crate::bootdisk::root_fs_uuid("a")
        )));
        assert!(!cmdline.contains(UKI_GENERATION_MARK), "{cmdline}");
        assert!(all_device_props(&spec)
            .iter()
            .all(|p| !p.to_cli().contains("bootindex")));
    }

    #[test]
    fn every_disk_gets_a_boot_index_in_order_only_under_uefi() {
        let disks = |fw| {
            VmSpec::new("t", Personality::KvmGuest, fw)
                .disk(DiskSpec::virtio_blk("a", "a", Bytes(512)).with_esp())
                .disk(DiskSpec::virtio_blk("x", "x", Bytes(512)))
                .disk(DiskSpec::virtio_scsi("b", "b", Bytes(512)).with_esp())
        };
        let uefi = disks(Firmware::Uefi);
        assert!(uefi.boots_from_disk());
        let cli: Vec<String> = all_device_props(&uefi)
            .iter()
            .map(DeviceProps::to_cli)
            .collect();
        assert!(cli[0].ends_with(",bootindex=1"), "{}", cli[0]);
        // A blank disk too: a root class copies the ESP onto it.
        assert!(cli[1].ends_with(",bootindex=2"), "{}", cli[1]);
        assert!(cli[2].ends_with(",bootindex=3"), "{}", cli[2]);
        // BIOS boots QEMU's -kernel: no boot indexes.
        let bios = disks(Firmware::Bios);
        assert!(!bios.boots_from_disk());
        assert!(all_device_props(&bios)
            .iter()
            .all(|p| !p.to_cli().contains("bootindex")));
    }

    #[test]
    fn scsi_targets_count_per_controller() {
        let spec = VmSpec::new("t", Personality::VmwareGuest, Firmware::Bios)
            .disk(DiskSpec::vmdk("a", "a", Bytes(512)))
            .disk(DiskSpec::virtio_scsi("b", "b", Bytes(512)))
            .disk(DiskSpec::rdm("c", "c", 1, Bytes(512)));
        let ids: Vec<String> = all_device_props(&spec)
            .iter()
            .map(DeviceProps::to_cli)
            .collect();
        assert!(ids[0].contains("bus=pv0.0,scsi-id=0"), "{}", ids[0]);
        assert!(ids[1].contains("bus=scsi0.0,scsi-id=0"), "{}", ids[1]);
        assert!(ids[2].contains("bus=pv0.0,scsi-id=1"), "{}", ids[2]);
        assert_eq!(
            spec.disks[0].expected_by_id().as_deref(),
            Some("scsi-0VMware_Virtual_disk_a")
        );
    }
}
