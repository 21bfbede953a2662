//! `probe()`: the whole facts document of the running machine.

use crate::capture::{machine_facts_from_capture, Capture};
use crate::disks::{disk_facts_from, scan_disks, DiskRecord};
use crate::error::LinuxError;
use crate::inuse::{in_use, read_mounts};
use crate::label::read_label;
use crate::machine::{cpuid_hypervisor, machine_facts_at};
use crate::signatures::probe_signatures;
use crate::sysroot::SysRoot;
use dmclass_model::Sectors;
use dmclass_rules::{boot_mode, detect_environment, Facts, MachineFacts, FACTS_FORMAT};

/// Probes the running machine: environment, boot mode, and every block disk with its kind,
/// ids, size, signatures, in-use state and dmclass label.
///
/// Fails only when udev cannot enumerate at all; trouble with one disk is recorded in that
/// disk's facts (an `unreadable` signature, a warning in the log).
pub fn probe() -> Result<Facts, LinuxError> {
    probe_with(&SysRoot::default())
}

/// [`probe()`] with sysfs, procfs and device nodes read under `root` (udev's device list
/// itself always comes from the running system).
pub fn probe_with(root: &SysRoot) -> Result<Facts, LinuxError> {
    let machine = machine_facts_at(root, cpuid_hypervisor());
    let records = scan_disks(root)?;
    let mut facts = facts_from_records(machine, records);
    let mounts = read_mounts(root);
    for disk in &mut facts.disks {
        let node = root.path(&disk.devnode);
        disk.signatures = probe_signatures(&node);
        disk.in_use = in_use(root, &disk.name, &node, &mounts);
        disk.dmclass = read_label(&node);
    }
    Ok(facts)
}

/// The pure part of the probe: environment, boot mode and per-disk facts from machine
/// evidence and recorded disks (no signatures, in-use state or labels: those need the
/// devices). Disks keep the order given.
pub fn facts_from_records(machine: MachineFacts, records: Vec<DiskRecord>) -> Facts {
    let environment = detect_environment(&machine);
    let disks = records
        .into_iter()
        .map(|r| disk_facts_from(&r.name, r.props, r.size, Some(environment)))
        .collect();
    Facts {
        format: FACTS_FORMAT,
        environment,
        boot: boot_mode(&machine),
        machine,
        disks,
    }
}

/// Facts from a capture file (see [`crate::capture`]): the same pure path as [`probe()`],
/// fed with recorded properties. Sizes come from `SIZE_SECTORS` (0 when absent).
pub fn facts_from_capture(capture: &Capture) -> Facts {
    let records = capture
        .disks
        .iter()
        .map(|(name, props)| DiskRecord {
            name: name.clone(),
            size: Sectors(
                props
                    .get("SIZE_SECTORS")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0),
            ),
            props: props.clone(),
        })
        .collect();
    facts_from_records(machine_facts_from_capture(&capture.machine), records)
}
