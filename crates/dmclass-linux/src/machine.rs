//! Evidence for environment and boot-mode detection (docs/support-matrix.md), read the way
//! systemd-detect-virt reads it: CPUID first, then DMI; plus `/dev/kvm` and
//! `/sys/firmware/efi`. The verdict itself is `dmclass_rules::detect_environment`.

use crate::sysroot::SysRoot;
use dmclass_rules::MachineFacts;

/// Machine facts of the running system (root `/`).
pub fn machine_facts() -> MachineFacts {
    machine_facts_at(&SysRoot::default(), cpuid_hypervisor())
}

/// Machine facts read under `root`, with the CPUID hypervisor signature given
/// (the CPU cannot be faked, so tests pass what they want; [`machine_facts`] passes
/// [`cpuid_hypervisor()`]).
pub fn machine_facts_at(root: &SysRoot, cpuid_hypervisor: Option<String>) -> MachineFacts {
    let dmi = |field: &str| root.read_trimmed(format!("/sys/class/dmi/id/{field}"));
    MachineFacts {
        hostname: root.read_trimmed("/proc/sys/kernel/hostname"),
        cpuid_hypervisor,
        dmi_sys_vendor: dmi("sys_vendor"),
        dmi_product_name: dmi("product_name"),
        dmi_bios_vendor: dmi("bios_vendor"),
        dmi_board_vendor: dmi("board_vendor"),
        dev_kvm: root.exists("/dev/kvm"),
        efi: root.exists("/sys/firmware/efi"),
    }
}

/// The CPUID leaf 0x40000000 vendor signature, when leaf 1 ECX bit 31 (hypervisor
/// present) is set; `None` on bare metal and on non-x86_64 CPUs.
///
/// A hypervisor may set the bit and leave the signature empty: that gives `Some("")`,
/// which `detect_environment` treats as an unknown hypervisor (a guest).
pub fn cpuid_hypervisor() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID exists on every x86_64 CPU and only reads CPU identification
        // registers; it has no memory effects. (Newer compilers treat `__cpuid` as safe,
        // hence the `unused_unsafe` allowance.)
        #[allow(unused_unsafe)]
        let leaf1 = unsafe { __cpuid(1) };
        if leaf1.ecx & (1 << 31) == 0 {
            return None;
        }
        // SAFETY: as above; leaf 0x40000000 is reserved for hypervisors and reads as
        // zeros or an unrelated leaf on CPUs without one, never faults.
        #[allow(unused_unsafe)]
        let leaf = unsafe { __cpuid(0x4000_0000) };
        Some(hypervisor_signature(leaf.ebx, leaf.ecx, leaf.edx))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The 12-byte signature in EBX, ECX, EDX (little-endian bytes), NUL padding removed and
/// non-printable bytes dropped (KVM pads `KVMKVMKVM` with NULs).
pub fn hypervisor_signature(ebx: u32, ecx: u32, edx: u32) -> String {
    let mut bytes = Vec::with_capacity(12);
    for reg in [ebx, ecx, edx] {
        bytes.extend_from_slice(&reg.to_le_bytes());
    }
    bytes
        .into_iter()
        .filter(|b| b.is_ascii_graphic() || *b == b' ')
        .map(char::from)
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;
    use dmclass_rules::{boot_mode, detect_environment, BootMode, Environment};

    fn regs(sig: &[u8; 12]) -> (u32, u32, u32) {
        let r = |i: usize| u32::from_le_bytes([sig[i], sig[i + 1], sig[i + 2], sig[i + 3]]);
        (r(0), r(4), r(8))
    }

    #[test]
    fn signatures_decode_from_registers() {
        let (b, c, d) = regs(b"KVMKVMKVM\0\0\0");
        assert_eq!(hypervisor_signature(b, c, d), "KVMKVMKVM");
        let (b, c, d) = regs(b"VMwareVMware");
        assert_eq!(hypervisor_signature(b, c, d), "VMwareVMware");
        let (b, c, d) = regs(b"Microsoft Hv");
        assert_eq!(hypervisor_signature(b, c, d), "Microsoft Hv");
        assert_eq!(hypervisor_signature(0, 0, 0), "");
    }

    /// The `### machine` block of the VMware capture, as a fake sysfs tree.
    #[test]
    fn vmware_uefi_tree_reads_as_a_vmware_guest() {
        let t = TempTree::new("machine-vmw");
        t.write("/sys/class/dmi/id/sys_vendor", "VMware, Inc.\n");
        t.write(
            "/sys/class/dmi/id/product_name",
            "VMware Virtual Platform\n",
        );
        t.write(
            "/sys/class/dmi/id/bios_vendor",
            "EFI Development Kit II / OVMF\n",
        );
        t.write("/sys/class/dmi/id/board_vendor", "\n");
        t.write("/proc/sys/kernel/hostname", "vmguest\n");
        t.mkdir("/sys/firmware/efi");
        t.write("/dev/kvm", "");
        let m = machine_facts_at(&SysRoot::new(t.path()), None);
        assert_eq!(m.dmi_sys_vendor.as_deref(), Some("VMware, Inc."));
        assert_eq!(
            m.dmi_product_name.as_deref(),
            Some("VMware Virtual Platform")
        );
        assert_eq!(m.dmi_board_vendor, None, "blank DMI field is None");
        assert_eq!(m.hostname.as_deref(), Some("vmguest"));
        assert!(m.efi && m.dev_kvm);
        assert_eq!(detect_environment(&m), Environment::VmwareGuest);
        assert_eq!(boot_mode(&m), BootMode::Uefi);
    }

    #[test]
    fn kvm_bios_tree_with_dev_kvm_is_still_a_guest() {
        let t = TempTree::new("machine-kvm");
        t.write("/sys/class/dmi/id/sys_vendor", "QEMU\n");
        t.write(
            "/sys/class/dmi/id/product_name",
            "Standard PC (i440FX + PIIX, 1996)\n",
        );
        t.write("/sys/class/dmi/id/bios_vendor", "SeaBIOS\n");
        t.write("/dev/kvm", "");
        let root = SysRoot::new(t.path());
        let m = machine_facts_at(&root, Some("TCGTCGTCGTCG".into()));
        assert_eq!(detect_environment(&m), Environment::KvmGuest);
        assert_eq!(boot_mode(&m), BootMode::Bios);
    }

    #[test]
    fn empty_tree_with_dev_kvm_is_a_kvm_host_and_without_is_bare_metal() {
        let t = TempTree::new("machine-empty");
        let root = SysRoot::new(t.path());
        let m = machine_facts_at(&root, None);
        assert_eq!(m, MachineFacts::default());
        assert_eq!(detect_environment(&m), Environment::BareMetal);
        t.write("/dev/kvm", "");
        let m = machine_facts_at(&root, None);
        assert_eq!(detect_environment(&m), Environment::KvmHost);
    }

    #[test]
    fn this_machine_reads_without_panicking() {
        let m = machine_facts();
        // Whatever the machine is, the CPUID answer agrees with /proc/cpuinfo's flag.
        if let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") {
            if cfg!(target_arch = "x86_64") {
                let flag = cpuinfo
                    .lines()
                    .filter(|l| l.starts_with("flags"))
                    .any(|l| l.split_whitespace().any(|w| w == "hypervisor"));
                assert_eq!(m.cpuid_hypervisor.is_some(), flag, "{m:?}");
            }
        }
    }
}
