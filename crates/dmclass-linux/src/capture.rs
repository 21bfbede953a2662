//! The text format of the recorded facts in `shared/data/captures/` (and of
//! `examples/capture.rs`): `### disk NAME` blocks of `KEY=VALUE` lines (udev properties plus
//! the sysfs extras this crate adds) and one `### machine` block.
//!
//! Parsing is lenient and never panics: lines without `=` and unknown headers are ignored;
//! values are kept verbatim (SCSI inquiry strings keep their padding).

use dmclass_rules::MachineFacts;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A property map as recorded: key to verbatim value.
pub type Properties = BTreeMap<String, String>;

/// One parsed capture file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// `(kernel name, properties)` per `### disk` block, in file order.
    pub disks: Vec<(String, Properties)>,
    /// The `### machine` block (empty when absent).
    pub machine: Properties,
}

impl Capture {
    /// The properties of disk `name`, if recorded.
    pub fn disk(&self, name: &str) -> Option<&Properties> {
        self.disks.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }
}

enum Section {
    None,
    Disk(usize),
    Machine,
}

/// Parses a capture file.
pub fn parse_capture(text: &str) -> Capture {
    let mut cap = Capture::default();
    let mut section = Section::None;
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("### ") {
            let mut words = header.split_whitespace();
            section = match (words.next(), words.next()) {
                (Some("disk"), Some(name)) => {
                    cap.disks.push((name.to_string(), Properties::new()));
                    Section::Disk(cap.disks.len() - 1)
                }
                (Some("machine"), _) => Section::Machine,
                _ => Section::None,
            };
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let map = match section {
            Section::Disk(i) => cap.disks.get_mut(i).map(|(_, p)| p),
            Section::Machine => Some(&mut cap.machine),
            Section::None => None,
        };
        if let Some(map) = map {
            map.insert(key.to_string(), value.to_string());
        }
    }
    cap
}

/// Machine facts from a `### machine` block (`DMI_*`, `CPU_HYPERVISOR_FLAG`, `EFI`,
/// `DEV_KVM`). The capture records only whether CPUs carry the `hypervisor` flag, not the
/// CPUID signature: a non-zero flag count becomes an empty signature (a hypervisor of
/// unknown identity, so DMI decides).
pub fn machine_facts_from_capture(machine: &Properties) -> MachineFacts {
    let text = |k: &str| {
        machine
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let yes = |k: &str| machine.get(k).is_some_and(|v| v.trim() == "yes");
    let flagged = machine
        .get("CPU_HYPERVISOR_FLAG")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    MachineFacts {
        hostname: text("HOSTNAME"),
        cpuid_hypervisor: text("CPUID_HYPERVISOR").or(flagged.then(String::new)),
        dmi_sys_vendor: text("DMI_sys_vendor"),
        dmi_product_name: text("DMI_product_name"),
        dmi_bios_vendor: text("DMI_bios_vendor"),
        dmi_board_vendor: text("DMI_board_vendor"),
        dev_kvm: yes("DEV_KVM"),
        efi: yes("EFI"),
    }
}

/// Renders one disk block in the capture format (for recording new fixtures).
pub fn render_disk(name: &str, props: &Properties) -> String {
    let mut out = format!("### disk {name}\n");
    for (k, v) in props {
        // Newlines would break the line format; udev values never contain them.
        let v = v.replace('\n', " ");
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "### disk vda\nDEVNAME=/dev/vda\nSYSFS_vendor=QEMU    \nODD=a=b\n\
                          garbage line\n=novalue\n### disk sda\nID_BUS=scsi\n### something\n\
                          X=1\n### machine\nDMI_sys_vendor=QEMU\nCPU_HYPERVISOR_FLAG=2\n\
                          EFI=no\nDEV_KVM=yes\n";

    #[test]
    fn blocks_and_verbatim_values() {
        let c = parse_capture(SAMPLE);
        assert_eq!(c.disks.len(), 2);
        let vda = c.disk("vda").unwrap();
        assert_eq!(vda["SYSFS_vendor"], "QEMU    ");
        assert_eq!(vda["ODD"], "a=b");
        assert_eq!(vda.len(), 3);
        assert_eq!(c.disk("sda").unwrap()["ID_BUS"], "scsi");
        assert!(!c.machine.contains_key("X"));
        let m = machine_facts_from_capture(&c.machine);
        assert_eq!(m.dmi_sys_vendor.as_deref(), Some("QEMU"));
        assert_eq!(m.cpuid_hypervisor.as_deref(), Some(""));
        assert!(m.dev_kvm && !m.efi);
    }

    #[test]
    fn render_round_trips() {
        let c = parse_capture(SAMPLE);
        let vda = c.disk("vda").unwrap();
        let again = parse_capture(&render_disk("vda", vda));
        assert_eq!(again.disk("vda"), Some(vda));
    }

    #[test]
    fn junk_input_gives_empty_capture() {
        assert_eq!(
            parse_capture("\0\u{1}==\n###\n### disk\n"),
            Capture::default()
        );
    }
}
