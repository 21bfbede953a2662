//! N3 from facts: no warning without evidence, one per kind of evidence.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use crate::facts::{DiskFacts, Facts, InUse, LabelFacts, FACTS_FORMAT};
use crate::gate::{gate, Report};
use crate::kind::DeviceKind;
use dmclass_model::{BootMode, Bytes, Environment};
use std::path::PathBuf;

const HOST: &str = "\
version: 1
classes:
  - name: vmimages
    type: local
    disks:
      - {name: n1, device: /dev/h1}
      - {name: n2, device: /dev/h2}
    groups:
      - {name: g1, type: mirror, members: [n1, n2]}
    volumes:
      - {name: os, on: g1, size: 1GiB}
";

fn disk(name: &str) -> DiskFacts {
    DiskFacts {
        name: name.into(),
        devnode: PathBuf::from(format!("/dev/{name}")),
        kind: DeviceKind::Nvme,
        size: Bytes(8 << 30),
        serial: None,
        wwn: None,
        vendor: None,
        model: None,
        controller: None,
        links: Vec::new(),
        signatures: Vec::new(),
        in_use: InUse::default(),
        dmclass: None,
        guest_openers: Some(Vec::new()),
        properties: std::collections::BTreeMap::new(),
    }
}

fn label(class: &str) -> LabelFacts {
    LabelFacts {
        class: class.into(),
        disk: "g".into(),
        class_uuid: Some(format!("uuid-{class}")),
        disk_uuid: None,
        generation: Some(1),
    }
}

/// A KVM host with the config's two disks and a third one, `g1`.
fn host() -> Facts {
    Facts {
        format: FACTS_FORMAT,
        environment: Environment::KvmHost,
        boot: BootMode::Uefi,
        machine: crate::facts::MachineFacts::default(),
        disks: vec![disk("h1"), disk("h2"), disk("g1")],
    }
}

fn run(yaml: &str, facts: &Facts) -> Report {
    let config = dmclass_model::parse("host.yaml", yaml).unwrap();
    gate(&config, facts)
}

fn n3(r: &Report) -> Vec<String> {
    r.warnings
        .iter()
        .filter(|w| w.rule.iter().any(|x| x == "N3"))
        .map(ToString::to_string)
        .collect()
}

const QEMU: &str = "qemu-system-x86[4242]";

#[test]
fn no_evidence_no_warning() {
    // No `exclude:` list on a KVM host is not evidence of anything.
    let r = run(HOST, &host());
    assert!(r.is_allowed(), "{r}");
    assert!(n3(&r).is_empty(), "{r}");
    // Unknown guest openers (old facts, unreadable /proc) are no evidence either.
    let mut f = host();
    for d in &mut f.disks {
        d.guest_openers = None;
    }
    f.disks[2].dmclass = Some(label("guestdata"));
    assert!(n3(&run(HOST, &f)).is_empty());
    // A guest-class label on a disk the host neither registers nor sees opened by a
    // guest: nothing says a guest uses it.
    for d in &mut f.disks {
        d.guest_openers = Some(Vec::new());
    }
    assert!(n3(&run(HOST, &f)).is_empty());
}

#[test]
fn registered_disk_with_a_foreign_class_label() {
    let mut f = host();
    f.disks[1].dmclass = Some(label("guestdata"));
    let w = n3(&run(HOST, &f));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("class vmimages, n2")
            && w[0].contains("/dev/h2 carries the dmclass label of class `guestdata`"),
        "{w:?}"
    );
    // The host's own label is no evidence.
    f.disks[1].dmclass = Some(label("vmimages"));
    assert!(n3(&run(HOST, &f)).is_empty());
}

#[test]
fn registered_disk_open_by_a_guest() {
    let mut f = host();
    f.disks[0].guest_openers = Some(vec![QEMU.into()]);
    let w = n3(&run(HOST, &f));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("class vmimages, n1")
            && w[0].contains("open by a running guest (qemu-system-x86[4242])"),
        "{w:?}"
    );
}

#[test]
fn guest_dmclass_disk_not_excluded() {
    let mut f = host();
    f.disks[2].guest_openers = Some(vec![QEMU.into()]);
    // Open by a guest but without a dmclass label: the guest does not run dmclass on it.
    assert!(n3(&run(HOST, &f)).is_empty());
    f.disks[2].dmclass = Some(label("guestdata"));
    let w = n3(&run(HOST, &f));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("/dev/g1 is open by a running guest") && w[0].contains("`exclude:`"));
    // Excluded: nothing to say (the names differ).
    let excluded = format!("exclude: [/dev/g1]\n{HOST}");
    assert!(n3(&run(&excluded, &f)).is_empty());
}

#[test]
fn host_class_named_like_a_guest_class() {
    let mut f = host();
    f.disks[2].guest_openers = Some(vec![QEMU.into()]);
    f.disks[2].dmclass = Some(label("vmimages"));
    let excluded = format!("exclude: [/dev/g1]\n{HOST}");
    let w = n3(&run(&excluded, &f));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("host class `vmimages` has the name of the class on guest disk /dev/g1"),
        "{w:?}"
    );
    // The same label on a disk no guest holds open is no evidence of a guest class.
    f.disks[2].guest_openers = Some(Vec::new());
    assert!(n3(&run(&excluded, &f)).is_empty());
}

#[test]
fn evidence_counts_only_on_a_kvm_host() {
    let mut f = host();
    f.environment = Environment::BareMetal;
    f.disks[0].guest_openers = Some(vec![QEMU.into()]);
    f.disks[1].dmclass = Some(label("guestdata"));
    assert!(n3(&run(HOST, &f)).is_empty());
}
