//! Test helpers shared by the integration tests: capture parsing.
#![allow(dead_code)]

use dmclass_rules::MachineFacts;
use std::collections::BTreeMap;

/// One capture file: disks by name, and the machine block.
pub struct Capture {
    pub disks: BTreeMap<String, BTreeMap<String, String>>,
    pub machine: BTreeMap<String, String>,
}

/// Parses the `### disk NAME` / `### machine` blocks of a capture file.
pub fn parse_capture(text: &str) -> Capture {
    let mut disks = BTreeMap::new();
    let mut machine = BTreeMap::new();
    let mut current: Option<(String, BTreeMap<String, String>)> = None;
    let mut in_machine = false;
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("### ") {
            if let Some((name, props)) = current.take() {
                disks.insert(name, props);
            }
            in_machine = head == "machine";
            if let Some(name) = head.strip_prefix("disk ") {
                current = Some((name.to_string(), BTreeMap::new()));
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if in_machine {
            machine.insert(k.to_string(), v.to_string());
        } else if let Some((_, props)) = current.as_mut() {
            props.insert(k.to_string(), v.to_string());
        }
    }
    if let Some((name, props)) = current.take() {
        disks.insert(name, props);
    }
    Capture { disks, machine }
}

/// The capture's machine block as [`MachineFacts`] (captures record no CPUID signature).
pub fn machine_facts(c: &Capture) -> MachineFacts {
    let get = |k: &str| c.machine.get(k).cloned().filter(|v| !v.is_empty());
    MachineFacts {
        hostname: None,
        cpuid_hypervisor: None,
        dmi_sys_vendor: get("DMI_sys_vendor"),
        dmi_product_name: get("DMI_product_name"),
        dmi_bios_vendor: get("DMI_bios_vendor"),
        dmi_board_vendor: get("DMI_board_vendor"),
        dev_kvm: get("DEV_KVM").as_deref() == Some("yes"),
        efi: get("EFI").as_deref() == Some("yes"),
    }
}

pub const KVM_CAPTURE: &str = include_str!("../data/kvm-guest-bios.txt");
pub const VMWARE_CAPTURE: &str = include_str!("../data/vmware-guest-uefi.txt");
