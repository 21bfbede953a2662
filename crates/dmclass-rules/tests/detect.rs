//! Environment and boot-mode detection (systemd-detect-virt order).
mod common;

use common::{machine_facts, parse_capture, KVM_CAPTURE, VMWARE_CAPTURE};
use dmclass_rules::{boot_mode, detect_environment, BootMode, Environment, MachineFacts};

#[test]
fn captured_machines() {
    let kvm = machine_facts(&parse_capture(KVM_CAPTURE));
    assert!(kvm.dev_kvm, "the TCG guest has /dev/kvm");
    assert_eq!(detect_environment(&kvm), Environment::KvmGuest);
    assert_eq!(boot_mode(&kvm), BootMode::Bios);

    let vmw = machine_facts(&parse_capture(VMWARE_CAPTURE));
    assert_eq!(detect_environment(&vmw), Environment::VmwareGuest);
    assert_eq!(boot_mode(&vmw), BootMode::Uefi);
}

fn m(cpuid: Option<&str>, product: &str, vendor: &str, bios: &str, kvm: bool) -> MachineFacts {
    let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
    MachineFacts {
        cpuid_hypervisor: cpuid.map(str::to_string),
        dmi_product_name: s(product),
        dmi_sys_vendor: s(vendor),
        dmi_bios_vendor: s(bios),
        dev_kvm: kvm,
        ..MachineFacts::default()
    }
}

#[test]
fn hand_made_machines() {
    use Environment as E;
    let cases = [
        (
            "kvm cpuid",
            m(Some("KVMKVMKVM\0\0\0"), "", "", "", true),
            E::KvmGuest,
        ),
        (
            "tcg cpuid",
            m(Some("TCGTCGTCGTCG"), "", "", "", true),
            E::KvmGuest,
        ),
        (
            "cpuid beats dmi",
            m(Some("KVMKVMKVM"), "VMware Virtual Platform", "", "", false),
            E::KvmGuest,
        ),
        (
            "esxi",
            m(
                Some("VMwareVMware"),
                "VMware7,1",
                "VMware, Inc.",
                "VMware, Inc.",
                false,
            ),
            E::VmwareGuest,
        ),
        (
            "hyperv deferred to dmi qemu",
            m(
                Some("Microsoft Hv"),
                "Standard PC (Q35 + ICH9, 2009)",
                "QEMU",
                "",
                false,
            ),
            E::KvmGuest,
        ),
        (
            "hyperv alone",
            m(
                Some("Microsoft Hv"),
                "Virtual Machine",
                "Microsoft Corporation",
                "",
                false,
            ),
            E::OtherGuest,
        ),
        (
            "unknown sig, vmware dmi",
            m(Some("ACRNACRNACRN"), "", "VMware, Inc.", "", false),
            E::VmwareGuest,
        ),
        (
            "unknown sig alone",
            m(Some("bhyve bhyve "), "", "", "", false),
            E::OtherGuest,
        ),
        (
            "xen cpuid",
            m(Some("XenVMMXenVMM"), "", "", "", false),
            E::OtherGuest,
        ),
        (
            "dmi kvm product",
            m(None, "KVM", "Red Hat", "", false),
            E::KvmGuest,
        ),
        (
            "dmi openstack",
            m(None, "OpenStack Compute", "", "", false),
            E::KvmGuest,
        ),
        (
            "dmi seabios only",
            m(None, "", "", "SeaBIOS", false),
            E::KvmGuest,
        ),
        (
            "dmi virtualbox",
            m(None, "VirtualBox", "innotek GmbH", "", true),
            E::OtherGuest,
        ),
        (
            "dmi parallels",
            m(
                None,
                "Parallels Virtual Platform",
                "Parallels Software",
                "",
                false,
            ),
            E::OtherGuest,
        ),
        (
            "dmi xen",
            m(None, "HVM domU", "Xen", "Xen", false),
            E::OtherGuest,
        ),
        (
            "kvm host",
            m(None, "PowerEdge R750", "Dell Inc.", "Dell Inc.", true),
            E::KvmHost,
        ),
        (
            "bare metal",
            m(None, "PRIMERGY RX2540 M7", "FUJITSU", "FUJITSU", false),
            E::BareMetal,
        ),
        ("nothing known", MachineFacts::default(), E::BareMetal),
    ];
    for (what, facts, want) in cases {
        assert_eq!(detect_environment(&facts), want, "{what}");
    }
}

#[test]
fn boot_mode_follows_efi() {
    let mut f = MachineFacts::default();
    assert_eq!(boot_mode(&f), BootMode::Bios);
    f.efi = true;
    assert_eq!(boot_mode(&f), BootMode::Uefi);
}
