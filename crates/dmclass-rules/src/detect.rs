//! Environment and boot-mode detection from [`MachineFacts`] (docs/support-matrix.md), pure.
//!
//! The order follows systemd-detect-virt (`src/basic/virt.c`, `detect_vm()`): a known CPUID
//! hypervisor signature decides at once; `Microsoft Hv` (QEMU with Hyper-V enlightenments
//! reports it too) and unknown signatures defer to DMI; DMI fields are tested
//! `product_name` first (to see KVM over QEMU), then `sys_vendor`, `board_vendor`,
//! `bios_vendor`. A machine that is no guest but has `/dev/kvm` is a KVM host. A guest
//! with `/dev/kvm` (nested virtualization, or a TCG guest as in the captures) stays a guest.

use crate::facts::MachineFacts;
use dmclass_model::{BootMode, Environment};

/// What the CPUID leaf 0x40000000 signature says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CpuidVerdict {
    /// No hypervisor bit: not a guest as far as CPUID knows.
    None,
    /// A signature that decides the environment.
    Known(Environment),
    /// Hypervisor present but its identity is left to DMI (Hyper-V, unknown signatures).
    Deferred,
}

/// CPUID signatures and what they mean, as in systemd's `vm_table`.
const CPUID_TABLE: [(&str, Environment); 5] = [
    ("KVMKVMKVM", Environment::KvmGuest),
    ("Linux KVM Hv", Environment::KvmGuest),
    ("TCGTCGTCGTCG", Environment::KvmGuest),
    ("VMwareVMware", Environment::VmwareGuest),
    ("XenVMMXenVMM", Environment::OtherGuest),
];

/// DMI prefixes and what they mean (systemd's `dmi_vendor_table`, mapped onto dmclass's
/// environments). `Standard PC` and `SeaBIOS` are QEMU's defaults for product and BIOS.
const DMI_TABLE: [(&str, Environment); 19] = [
    ("KVM", Environment::KvmGuest),
    ("OpenStack", Environment::KvmGuest),
    ("KubeVirt", Environment::KvmGuest),
    ("QEMU", Environment::KvmGuest),
    ("Standard PC", Environment::KvmGuest),
    ("SeaBIOS", Environment::KvmGuest),
    ("VMware", Environment::VmwareGuest),
    ("VMW", Environment::VmwareGuest),
    ("innotek GmbH", Environment::OtherGuest),
    ("VirtualBox", Environment::OtherGuest),
    ("Oracle Corporation", Environment::OtherGuest),
    ("Xen", Environment::OtherGuest),
    ("Bochs", Environment::OtherGuest),
    ("Parallels", Environment::OtherGuest),
    ("BHYVE", Environment::OtherGuest),
    ("Hyper-V", Environment::OtherGuest),
    ("Amazon EC2", Environment::OtherGuest),
    ("Google Compute Engine", Environment::OtherGuest),
    ("Apple Virtualization", Environment::OtherGuest),
];

fn cpuid_verdict(sig: Option<&str>) -> CpuidVerdict {
    let Some(sig) = sig else {
        return CpuidVerdict::None;
    };
    // The signature is 12 bytes of EBX/ECX/EDX; KVM pads with NULs.
    let sig = sig.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    CPUID_TABLE
        .iter()
        .find(|(s, _)| sig == *s)
        .map_or(CpuidVerdict::Deferred, |(_, e)| CpuidVerdict::Known(*e))
}

fn dmi_verdict(m: &MachineFacts) -> Option<Environment> {
    // Microsoft's own DMI says "Microsoft Corporation" / "Virtual Machine"; only the
    // product name identifies Hyper-V, so test it before the vendor table.
    let fields = [
        &m.dmi_product_name,
        &m.dmi_sys_vendor,
        &m.dmi_board_vendor,
        &m.dmi_bios_vendor,
    ];
    fields.into_iter().flatten().find_map(|v| {
        let v = v.trim();
        DMI_TABLE
            .iter()
            .find(|(prefix, _)| v.starts_with(prefix))
            .map(|(_, e)| *e)
    })
}

/// The environment the machine facts show.
pub fn detect_environment(m: &MachineFacts) -> Environment {
    let cpuid = cpuid_verdict(m.cpuid_hypervisor.as_deref());
    if let CpuidVerdict::Known(env) = cpuid {
        return env;
    }
    if let Some(env) = dmi_verdict(m) {
        return env;
    }
    if cpuid == CpuidVerdict::Deferred {
        return Environment::OtherGuest;
    }
    if m.dev_kvm {
        Environment::KvmHost
    } else {
        Environment::BareMetal
    }
}

/// The firmware the machine booted with: UEFI when `/sys/firmware/efi` exists.
pub fn boot_mode(m: &MachineFacts) -> BootMode {
    if m.efi {
        BootMode::Uefi
    } else {
        BootMode::Bios
    }
}
