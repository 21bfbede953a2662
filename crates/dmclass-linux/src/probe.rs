//! `probe()`: the whole facts document of the running machine.

use crate::capture::{machine_facts_from_capture, Capture};
use crate::disks::{disk_facts_from, scan_disks, DiskRecord};
use crate::error::LinuxError;
use crate::guests::guest_opens;
use crate::inuse::{in_use, read_mounts};
use crate::label::read_label;
use crate::machine::{cpuid_hypervisor, machine_facts_at};
use crate::signatures::probe_signatures;
use crate::sysroot::SysRoot;
use dmclass_model::Sectors;
use dmclass_rules::{boot_mode, detect_environment, Facts, MachineFacts, FACTS_FORMAT};

/// Probes the running machine: environment, boot mode, and every block disk with its kind,
/// ids, size, signatures, in-use state (guests' QEMU processes included) and dmclass label.
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
    let guests = guest_opens(root);
    for disk in &mut facts.disks {
        let node = root.path(&disk.devnode);
        disk.signatures = probe_signatures(&node);
        disk.in_use = in_use(root, &disk.name, &node, &mounts);
        disk.guest_openers = guests.openers_of(&disk.devnode, &disk.in_use.partitions);
        disk.dmclass = read_label(&node);
        // The class UUID from the decoded label, else from the header copies (the
        // `dmclass` signature): a body that fails to decode at this instant must not
        // make the class's own running volumes look like foreign users of the disk.
        let class_uuid = disk
            .dmclass
            .as_ref()
            .and_then(|l| l.class_uuid.clone())
            .or_else(|| {
                disk.signatures
                    .iter()
                    .find(|s| s.sig_type == crate::label::SIG_TYPE)
                    .and_then(|s| s.uuid.clone())
            });
        split_own_holders(root, &mut disk.in_use, class_uuid.as_deref());
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

/// Move the holders that are dm devices of the disk's own class (dm UUID
/// `DMCLASS-<class uuid hex>...`) from `holders` to `dmclass_holders`, so re-applying
/// a running class does not see its own volumes as foreign users.
fn split_own_holders(root: &SysRoot, in_use: &mut dmclass_rules::InUse, class_uuid: Option<&str>) {
    let Some(class_uuid) = class_uuid else {
        return;
    };
    let prefix = format!(
        "DMCLASS-{}",
        class_uuid.replace('-', "").to_ascii_lowercase()
    );
    let (own, other): (Vec<String>, Vec<String>) = std::mem::take(&mut in_use.holders)
        .into_iter()
        .partition(|h| {
            root.read_trimmed(format!("/sys/block/{h}/dm/uuid"))
                .is_some_and(|u| u.starts_with(&prefix))
        });
    in_use.holders = other;
    in_use.dmclass_holders = own;
}

#[cfg(test)]
mod tests {
    use super::split_own_holders;
    use crate::SysRoot;
    use dmclass_rules::InUse;

    #[test]
    fn own_dm_holders_are_split_off() {
        let dir = std::env::temp_dir().join(format!("dmclass-holders-{}", std::process::id()));
        for (dm, uuid) in [
            (
                "dm-0",
                "DMCLASS-0123456789abcdef0123456789abcdefaaaa-rimage_0",
            ),
            ("dm-1", "LVM-xyz"),
        ] {
            let d = dir.join(format!("sys/block/{dm}/dm"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("uuid"), format!("{uuid}\n")).unwrap();
        }
        let mut u = InUse {
            holders: vec!["dm-0".into(), "dm-1".into(), "md0".into()],
            exclusive: true,
            ..InUse::default()
        };
        split_own_holders(
            &SysRoot::new(&dir),
            &mut u,
            Some("01234567-89ab-cdef-0123-456789abcdef"),
        );
        assert_eq!(u.dmclass_holders, vec!["dm-0"]);
        assert_eq!(u.holders, vec!["dm-1", "md0"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
