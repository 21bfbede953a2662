//! Table-driven test of the gate: for every matrix row and note, allowed cases and each
//! way a layout can be denied.
mod support;

use dmclass_model::{ClassType, CopyMode, DiskRole, DiskSelector, GroupKind, Located};
use dmclass_rules::{
    gate, BootMode, DeviceKind, Environment, Function, LabelFacts, Report, Signature,
};
use support::*;
use BootMode::{Bios, Uefi};
use ClassType::{Local, Root, Shared};
use DeviceKind as K;
use Environment::{BareMetal, KvmGuest, KvmHost, OtherGuest, VmwareGuest};

/// What the class does. Disks d1, d2 hold the master; d3, d4 the proxy group.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Mirror,
    Single,
    Stripe,
    StripeUnderMirror,
    Netmirror,
    DisksOnly,
    Cow,
    Proxy,
    ProxyOffload,
}

/// One change to the otherwise clean setup.
#[derive(Debug, Clone, Copy)]
enum Tweak {
    None,
    Vsan,
    Excluded,
    Mounted,
    Holder,
    Signature,
    SignatureWipe,
    OwnLabel,
    ForeignLabel,
    KeepWithSignature,
    AssertEnv(Environment),
    ProxyDiskKind(DeviceKind),
    Clash,
    GuestOpen,
    Missing,
    Duplicate,
    SelectWwn(&'static str),
    SelectSerial(&'static str),
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// No denial; the function is allowed by this row.
    Allow(Function, &'static str),
    /// No denial, and a warning citing this id.
    AllowWarn(&'static str),
    /// No denial, and no warning citing this id.
    Quiet(&'static str),
    /// A denial citing this id (or `-` for none) whose message or hint contains the string.
    Deny(&'static str, &'static str),
}

struct Case {
    name: &'static str,
    env: Environment,
    boot: BootMode,
    class: ClassType,
    layout: Layout,
    kind: DeviceKind,
    tweak: Tweak,
    expect: Expect,
}

#[allow(clippy::too_many_arguments)] // one table row per call keeps the table readable
const fn c(
    name: &'static str,
    env: Environment,
    boot: BootMode,
    class: ClassType,
    layout: Layout,
    kind: DeviceKind,
    tweak: Tweak,
    expect: Expect,
) -> Case {
    Case {
        name,
        env,
        boot,
        class,
        layout,
        kind,
        tweak,
        expect,
    }
}

use Expect::{Allow, AllowWarn, Deny, Quiet};
use Function as F;
use Layout as L;
use Tweak as T;

#[rustfmt::skip]
const CASES: &[Case] = &[
    // G1 host system-disk mirroring
    c("G1 ok", KvmHost, Uefi, Root, L::Mirror, K::Scsi, T::None, Allow(F::SystemDiskMirroring, "G1")),
    c("G1 nvme ok", KvmHost, Uefi, Root, L::Mirror, K::Nvme, T::None, Allow(F::SystemDiskMirroring, "G1")),
    c("G1 bios", KvmHost, Bios, Root, L::Mirror, K::Scsi, T::None, Deny("G1", "root class needs UEFI; this kvm-host booted with BIOS (rule G1)")),
    c("G1 unknown kind", KvmHost, Uefi, Root, L::Mirror, K::Unknown, T::None, Deny("G1", "`d1` is unknown")),
    c("root unmirrored on host", KvmHost, Uefi, Root, L::Single, K::Scsi, T::None, Deny("G2", "needs a local or shared class")),
    // G2 guest system-disk mirroring on the host
    c("G2 mirror", KvmHost, Bios, Local, L::Mirror, K::Nvme, T::None, Allow(F::DiskMirroring, "G2")),
    c("G2 shared", KvmHost, Bios, Shared, L::Mirror, K::Dm, T::None, Allow(F::DiskMirroring, "G2")),
    c("G2 single", KvmHost, Bios, Local, L::Single, K::Ata, T::None, Allow(F::DiskManagement, "G2")),
    c("G2 stripe", KvmHost, Bios, Local, L::Stripe, K::Ata, T::None, Allow(F::DiskManagement, "G2")),
    c("G2 disks only", KvmHost, Bios, Local, L::DisksOnly, K::Scsi, T::None, Allow(F::DiskManagement, "G2")),
    c("G2 wrong kind", KvmHost, Bios, Local, L::Mirror, K::VmwareVmdk, T::None, Deny("G2", "`d1` is vmware-vmdk")),
    // G3 system-disk mirroring in a VMware guest
    c("G3 vmdk", VmwareGuest, Uefi, Root, L::Mirror, K::VmwareVmdk, T::None, Allow(F::SystemDiskMirroring, "G3")),
    c("G3 rdm", VmwareGuest, Uefi, Root, L::Mirror, K::VmwareRdm, T::None, Allow(F::SystemDiskMirroring, "G3")),
    c("G3 bios", VmwareGuest, Bios, Root, L::Mirror, K::VmwareVmdk, T::None, Deny("G3", "root class needs UEFI; this vmware-guest booted with BIOS (rule G3)")),
    c("G3 nvme", VmwareGuest, Uefi, Root, L::Mirror, K::Nvme, T::None, Deny("G3", "`d1` is nvme")),
    c("G3 sata", VmwareGuest, Uefi, Root, L::Mirror, K::Ata, T::None, Deny("G3", "vmware-guest allows vmware-rdm, vmware-vmdk")),
    c("G3 stripe under mirror", VmwareGuest, Uefi, Root, L::StripeUnderMirror, K::VmwareVmdk, T::None, Allow(F::SystemDiskMirroring, "G3")),
    // G4 guest virtual-disk mirroring
    c("G4 virtio-blk", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::None, Allow(F::DiskMirroring, "G4")),
    c("G4 virtio-scsi", KvmGuest, Bios, Shared, L::Mirror, K::VirtioScsi, T::None, Allow(F::DiskMirroring, "G4")),
    c("G4 vmware rdm", VmwareGuest, Bios, Shared, L::Mirror, K::VmwareRdm, T::None, Allow(F::DiskMirroring, "G4")),
    c("G4 single", KvmGuest, Bios, Local, L::Single, K::VirtioBlk, T::None, Allow(F::DiskManagement, "G4")),
    c("G4 stripe under mirror", KvmGuest, Bios, Local, L::StripeUnderMirror, K::VirtioBlk, T::None, Allow(F::DiskMirroring, "G4")),
    c("G4 vmdk in kvm", KvmGuest, Bios, Local, L::Mirror, K::VmwareVmdk, T::None, Deny("G4", "kvm-guest allows virtio-blk, virtio-scsi")),
    c("G4 vmware nvme", VmwareGuest, Uefi, Local, L::Mirror, K::Nvme, T::None, Deny("G4", "`d1` is nvme")),
    c("G4 root in kvm guest", KvmGuest, Uefi, Root, L::Mirror, K::VirtioBlk, T::None, Deny("X1", "root class inside a KVM guest")),
    c("G4 root hint", KvmGuest, Uefi, Root, L::Mirror, K::VirtioBlk, T::None, Deny("X1", "system disk on the host (G2)")),
    // G5 cluster shared disks and inter-server mirroring
    c("G5 netmirror virtio", KvmGuest, Bios, Shared, L::Netmirror, K::VirtioBlk, T::None, Allow(F::InterServerMirroring, "G5")),
    c("G5 netmirror vmdk", VmwareGuest, Bios, Shared, L::Netmirror, K::VmwareVmdk, T::None, Allow(F::InterServerMirroring, "G5")),
    c("G5 shared single", VmwareGuest, Bios, Shared, L::Single, K::VmwareRdm, T::None, Allow(F::DiskManagement, "G5")),
    c("G5 local class", KvmGuest, Bios, Local, L::Netmirror, K::VirtioBlk, T::None, Deny("G5", "needs a shared class; `c1` is a local class (rule G5)")),
    c("G5 nvme", VmwareGuest, Bios, Shared, L::Netmirror, K::Nvme, T::None, Deny("G5", "`d1` is nvme")),
    c("G5 on host", KvmHost, Bios, Shared, L::Netmirror, K::Scsi, T::None, Deny("X3", "not between KVM hosts")),
    // S1 host system-disk snapshot, alternative boot
    c("S1 cow", KvmHost, Uefi, Root, L::Cow, K::Scsi, T::None, Allow(F::CowSnapshot, "S1")),
    c("S1 alt boot", KvmHost, Uefi, Root, L::Proxy, K::Scsi, T::None, Allow(F::AlternativeBoot, "S1")),
    c("S1 bios", KvmHost, Bios, Root, L::Cow, K::Scsi, T::None, Deny("S1", "root class needs UEFI")),
    c("S1 alt boot bios", KvmHost, Bios, Root, L::Proxy, K::Scsi, T::None, Deny("S1", "needs UEFI")),
    // S2 host data-volume snapshot
    c("S2 cow", KvmHost, Bios, Shared, L::Cow, K::Scsi, T::None, Allow(F::CowSnapshot, "S2")),
    c("S2 offload", KvmHost, Bios, Shared, L::ProxyOffload, K::Dm, T::None, Allow(F::CopyOffload, "S2")),
    c("S2 wrong kind", KvmHost, Bios, Shared, L::Cow, K::VirtioBlk, T::None, Deny("S2", "`d1` is virtio-blk")),
    // S3a guest system-disk snapshot on the host
    c("S3a proxy", KvmHost, Bios, Local, L::Proxy, K::Nvme, T::None, Allow(F::ProxySnapshot, "S3a")),
    c("S3a shared cow", KvmHost, Bios, Shared, L::Cow, K::Nvme, T::None, Allow(F::CowSnapshot, "S3a")),
    // S3b guest system-disk snapshot in VMware
    c("S3b cow", VmwareGuest, Uefi, Root, L::Cow, K::VmwareVmdk, T::None, Allow(F::CowSnapshot, "S3b")),
    c("S3b bios", VmwareGuest, Bios, Root, L::Cow, K::VmwareVmdk, T::None, Deny("S3b", "booted with BIOS (rule S3b)")),
    c("S3b nvme", VmwareGuest, Uefi, Root, L::Cow, K::Nvme, T::None, Deny("S3b", "`d1` is nvme")),
    c("S3b in kvm guest", KvmGuest, Uefi, Root, L::Cow, K::VirtioBlk, T::None, Deny("X1", "root class inside a KVM guest")),
    // S4 guest alternative boot environment
    c("S4 alt boot", VmwareGuest, Uefi, Root, L::Proxy, K::VmwareRdm, T::None, Allow(F::AlternativeBoot, "S4")),
    c("S4 bios", VmwareGuest, Bios, Root, L::Proxy, K::VmwareRdm, T::None, Deny("S4", "booted with BIOS (rule S4)")),
    c("S4 sata proxy disk", VmwareGuest, Uefi, Root, L::Proxy, K::VmwareVmdk, T::ProxyDiskKind(K::Ata), Deny("S4", "`d3` is ata")),
    // S5a guest local-volume snapshot on the host
    c("S5a cow", KvmHost, Bios, Local, L::Cow, K::Scsi, T::None, Allow(F::CowSnapshot, "S5a")),
    c("S5a offload", KvmHost, Bios, Local, L::ProxyOffload, K::Scsi, T::None, Allow(F::CopyOffload, "S5a")),
    // S5b guest local-volume snapshot in the guest
    c("S5b kvm cow", KvmGuest, Bios, Local, L::Cow, K::VirtioBlk, T::None, Allow(F::CowSnapshot, "S5b")),
    c("S5b vmware proxy", VmwareGuest, Bios, Local, L::Proxy, K::VmwareVmdk, T::None, Allow(F::ProxySnapshot, "S5b")),
    c("S5b rdm offload", VmwareGuest, Bios, Local, L::ProxyOffload, K::VmwareRdm, T::None, Allow(F::CopyOffload, "S5b")),
    c("S5b kvm offload", KvmGuest, Bios, Local, L::ProxyOffload, K::VirtioBlk, T::None, Deny("S5b", "copy-offload is not available in kvm-guest")),
    c("S5b vmdk offload", VmwareGuest, Bios, Local, L::ProxyOffload, K::VmwareVmdk, T::None, Deny("S5b", "`d1` is vmware-vmdk")),
    c("S5b vmdk proxy disk offload", VmwareGuest, Bios, Local, L::ProxyOffload, K::VmwareRdm, T::ProxyDiskKind(K::VmwareVmdk), Deny("S5b", "`d3` is vmware-vmdk")),
    c("S5b other guest", OtherGuest, Bios, Local, L::Cow, K::VirtioBlk, T::None, Deny("X2", "other than KVM and VMware")),
    // S6 cluster shared-volume snapshot
    c("S6 kvm cow", KvmGuest, Bios, Shared, L::Cow, K::VirtioScsi, T::None, Allow(F::CowSnapshot, "S6")),
    c("S6 rdm offload", VmwareGuest, Uefi, Shared, L::ProxyOffload, K::VmwareRdm, T::None, Allow(F::CopyOffload, "S6")),
    c("S6 kvm offload", KvmGuest, Bios, Shared, L::ProxyOffload, K::VirtioScsi, T::None, Deny("S6", "not available in kvm-guest")),
    c("S6 vmdk offload", VmwareGuest, Bios, Shared, L::ProxyOffload, K::VmwareVmdk, T::None, Deny("S6", "`d1` is vmware-vmdk")),
    // BM bare metal
    c("BM root bios", BareMetal, Bios, Root, L::Mirror, K::Scsi, T::None, Allow(F::SystemDiskMirroring, "BM")),
    c("BM root single", BareMetal, Bios, Root, L::Single, K::Nvme, T::None, Allow(F::DiskManagement, "BM")),
    c("BM netmirror", BareMetal, Bios, Shared, L::Netmirror, K::Iscsi, T::None, Allow(F::InterServerMirroring, "BM")),
    c("BM offload", BareMetal, Bios, Local, L::ProxyOffload, K::Scsi, T::None, Allow(F::CopyOffload, "BM")),
    c("BM alt boot", BareMetal, Bios, Root, L::Proxy, K::Ata, T::None, Allow(F::AlternativeBoot, "BM")),
    c("BM virtio", BareMetal, Bios, Local, L::Mirror, K::VirtioBlk, T::None, Deny("BM", "bare-metal allows")),
    // other-guest: nothing
    c("other guest mirror", OtherGuest, Uefi, Local, L::Mirror, K::Scsi, T::None, Deny("X2", "other than KVM and VMware")),
    // N1 / N2 vSAN
    c("N1 vsan netmirror", VmwareGuest, Bios, Shared, L::Netmirror, K::VmwareVmdk, T::Vsan, Deny("N1", "vSAN disk in an inter-server mirror")),
    c("N2 vsan mirror", VmwareGuest, Bios, Local, L::Mirror, K::VmwareVmdk, T::Vsan, AllowWarn("N2")),
    c("vsan single ok", VmwareGuest, Bios, Local, L::Single, K::VmwareVmdk, T::Vsan, Allow(F::DiskManagement, "G4")),
    // N3 host and guests
    c("N3 excluded", KvmHost, Bios, Local, L::Mirror, K::Scsi, T::Excluded, Deny("N3", "is in the `exclude:` list")),
    c("N3 no exclude list, no evidence", KvmHost, Bios, Local, L::Mirror, K::Scsi, T::None, Quiet("N3")),
    c("N3 registered disk open by a guest", KvmHost, Bios, Local, L::Mirror, K::Scsi, T::GuestOpen, AllowWarn("N3")),
    c("N3 clash", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::Clash, AllowWarn("N3")),
    // Disk safety
    c("mounted", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::Mounted, Deny("-", "in use: mounted on /srv")),
    c("holder", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::Holder, Deny("-", "held by dm-7")),
    c("foreign fs", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::Signature, Deny("-", "carries ext4 (label `data`)")),
    c("foreign fs wiped", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::SignatureWipe, Allow(F::DiskMirroring, "G4")),
    c("own label", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::OwnLabel, Allow(F::DiskMirroring, "G4")),
    c("other class label", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::ForeignLabel, Deny("-", "carries dmclass (class `other`)")),
    c("keep root disk", VmwareGuest, Uefi, Root, L::Mirror, K::VmwareVmdk, T::KeepWithSignature, Allow(F::SystemDiskMirroring, "G3")),
    c("missing disk", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::Missing, Deny("-", "no disk with device /dev/disk/by-id/test-gone")),
    c("duplicate disk", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::Duplicate, Deny("-", "already used as disk `d1` of class `c1`")),
    c("wwn with 0x", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::SelectWwn("0x5000C50000000001"), Allow(F::DiskMirroring, "G4")),
    c("wwn without 0x", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::SelectWwn("5000c50000000001"), Allow(F::DiskMirroring, "G4")),
    c("wwn unknown", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::SelectWwn("0x1234"), Deny("-", "no disk with wwn 0x1234")),
    c("serial", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::SelectSerial("SER-d1"), Allow(F::DiskMirroring, "G4")),
    // Environment assertion
    c("asserted env differs", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::AssertEnv(VmwareGuest), Deny("-", "config asserts environment vmware-guest, detected kvm-guest")),
    c("asserted env matches", KvmGuest, Bios, Local, L::Mirror, K::VirtioBlk, T::AssertEnv(KvmGuest), Allow(F::DiskMirroring, "G4")),
];

fn run(case: &Case) -> Report {
    let mut kinds = vec![case.kind; 4];
    if let T::ProxyDiskKind(k) = case.tweak {
        kinds[2] = k;
        kinds[3] = k;
    }
    let mut facts = facts(case.env, case.boot, &kinds);
    let mut disks: Vec<_> = (1..=4).map(|i| disk(&format!("d{i}"), 10 + i)).collect();
    let mut cl = class("c1", case.class, Vec::new());
    let mirror = |n: &str, m: &[&str]| group(n, GroupKind::Mirror, m);
    match case.layout {
        L::Mirror => cl.groups.push(mirror("g1", &["d1", "d2"])),
        L::Single => disks[0].role = DiskRole::Single,
        L::Stripe => cl.groups.push(group(
            "g1",
            GroupKind::Stripe {
                stripe_size: dmclass_model::Bytes(65536),
            },
            &["d1", "d2"],
        )),
        L::StripeUnderMirror => {
            cl.groups
                .push(group("s1", GroupKind::Concat, &["d1", "d2"]));
            cl.groups
                .push(group("s2", GroupKind::Concat, &["d3", "d4"]));
            cl.groups.push(mirror("g1", &["s1", "s2"]));
        }
        L::Netmirror => cl
            .groups
            .push(group("g1", GroupKind::Netmirror, &["d1", "d2"])),
        L::DisksOnly => {}
        L::Cow | L::Proxy | L::ProxyOffload => {
            cl.groups.push(mirror("g1", &["d1", "d2"]));
            cl.groups.push(mirror("g2", &["d3", "d4"]));
        }
    }
    if !matches!(
        case.layout,
        L::StripeUnderMirror | L::Cow | L::Proxy | L::ProxyOffload
    ) {
        disks.truncate(2);
    }
    let on = if matches!(case.layout, L::Single) {
        "d1"
    } else {
        "g1"
    };
    cl.volumes.push(volume("v1", on));
    match case.layout {
        L::Cow => cl.snapshots.push(cow("v1-snap", "v1")),
        L::Proxy => cl
            .snapshots
            .push(proxy("v1-copy", "v1", "g2", CopyMode::Software)),
        L::ProxyOffload => cl
            .snapshots
            .push(proxy("v1-copy", "v1", "g2", CopyMode::Offload)),
        _ => {}
    }
    let mut cfg_exclude = Vec::new();
    let mut env_assert = None;
    let d1 = &mut facts.disks[0];
    match case.tweak {
        T::None | T::ProxyDiskKind(_) => {}
        T::Vsan => disks[0].vsan = true,
        T::Excluded => cfg_exclude.push(Located {
            value: d1.devnode.clone(),
            span: sp(2),
        }),
        T::Mounted => d1.in_use.mounted.push("/srv".into()),
        T::Holder => d1.in_use.holders.push("dm-7".into()),
        T::Signature | T::SignatureWipe | T::KeepWithSignature => {
            d1.signatures.push(Signature {
                sig_type: "ext4".into(),
                usage: Some("filesystem".into()),
                label: Some("data".into()),
                uuid: None,
            });
            if let T::SignatureWipe = case.tweak {
                disks[0].wipe = true;
            }
            if let T::KeepWithSignature = case.tweak {
                disks[0].role = DiskRole::Keep;
            }
        }
        T::OwnLabel | T::ForeignLabel | T::Clash => {
            let class = if let T::ForeignLabel = case.tweak {
                "other"
            } else {
                "c1"
            };
            d1.signatures.push(Signature {
                sig_type: "dmclass".into(),
                usage: None,
                label: Some(class.into()),
                uuid: Some("u-1".into()),
            });
            d1.dmclass = Some(LabelFacts {
                class: class.into(),
                disk: "d1".into(),
                class_uuid: Some("u-1".into()),
                disk_uuid: None,
                generation: Some(3),
            });
            if let T::Clash = case.tweak {
                // A guest-visible disk (not in the config) carries another class `c1`.
                let mut other = disk_facts("guest", case.kind);
                other.dmclass = Some(LabelFacts {
                    class: "c1".into(),
                    disk: "x".into(),
                    class_uuid: Some("u-2".into()),
                    disk_uuid: None,
                    generation: None,
                });
                facts.disks.push(other);
            }
        }
        T::GuestOpen => d1.guest_openers = Some(vec!["qemu-system-x86[42]".into()]),
        T::AssertEnv(e) => env_assert = Some(e),
        T::Missing => disks[1].selector = DiskSelector::Device("/dev/disk/by-id/test-gone".into()),
        T::Duplicate => disks[1].selector = DiskSelector::Serial("SER-d1".into()),
        T::SelectWwn(w) => disks[0].selector = DiskSelector::Wwn(w.into()),
        T::SelectSerial(s) => disks[0].selector = DiskSelector::Serial(s.into()),
    }
    cl.disks = disks;
    let mut cfg = config(vec![cl]);
    cfg.exclude = cfg_exclude;
    cfg.environment = env_assert;
    cfg.environment_span = env_assert.map(|_| sp(2));
    gate(&cfg, &facts)
}

#[test]
fn gate_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let r = run(case);
        let ok = match case.expect {
            Allow(f, row) => {
                r.denials.is_empty()
                    && r.allowed
                        .iter()
                        .any(|a| a.function == f && a.rules.iter().any(|x| x == row))
            }
            AllowWarn(id) => {
                r.denials.is_empty() && r.warnings.iter().any(|w| w.rule.iter().any(|x| x == id))
            }
            Quiet(id) => {
                r.denials.is_empty() && !r.warnings.iter().any(|w| w.rule.iter().any(|x| x == id))
            }
            Deny(id, text) => r.denials.iter().any(|d| {
                (if id == "-" {
                    d.rule.is_empty()
                } else {
                    d.rule.iter().any(|x| x == id)
                }) && (d.message.contains(text)
                    || d.hint.as_deref().is_some_and(|h| h.contains(text)))
            }),
        };
        if !ok {
            failures.push(format!("{}: expected {:?}\n{r}", case.name, case.expect));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_row_and_note_has_an_allowed_and_a_denied_case() {
    let m = dmclass_rules::matrix().unwrap();
    for r in &m.rules {
        let allowed = CASES
            .iter()
            .any(|c| matches!(c.expect, Allow(_, id) if id == r.id));
        assert!(allowed, "row {} has no allowed case", r.id);
        // S3a and S5a overlap S2 on the host; their denials are S2's (same conditions).
        if !["S3a", "S5a"].contains(&r.id.as_str()) {
            let denied = CASES
                .iter()
                .any(|c| matches!(c.expect, Deny(id, _) if id == r.id));
            assert!(denied, "row {} has no denied case", r.id);
        }
    }
    for n in &m.notes {
        let covered = CASES
            .iter()
            .any(|c| matches!(c.expect, Deny(id, _) | AllowWarn(id) if id == n.id));
        assert!(covered, "note {} has no case", n.id);
    }
}

#[test]
fn report_serializes_and_displays() {
    let r = run(&CASES[2]); // G1 bios
    let json = serde_json::to_value(&r).unwrap();
    let d = &json["denials"][0];
    assert_eq!(d["rule"][0], "G1");
    assert_eq!(d["class"], "c1");
    assert_eq!(d["span"]["line"], 20);
    let text = r.to_string();
    assert!(
        text.starts_with("denied: 20:3: class c1, g1: system-disk-mirroring in root class `c1`"),
        "{text}"
    );
}

#[test]
fn render_matrix_lists_every_row() {
    let m = dmclass_rules::matrix().unwrap();
    let table = dmclass_rules::render_matrix(m);
    let first = table.lines().next().unwrap();
    assert!(
        first.starts_with("id") && first.contains("function"),
        "{first}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert!(table.contains("device kinds: kvm-host: nvme"), "{table}");
    for r in &m.rules {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("{} ", r.id))),
            "row {} missing:\n{table}",
            r.id
        );
    }
    let words = table.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("copy-offload only on vmware-guest: vmware-rdm"),
        "{table}"
    );
    assert!(table.contains("N1"));
}
