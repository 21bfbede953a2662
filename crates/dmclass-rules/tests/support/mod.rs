//! Builders for gate tests: a config and matching facts, without the YAML parser.
#![allow(dead_code)]

use dmclass_model::{
    Bytes, Class, ClassType, Config, CopyMode, Disk, DiskRole, DiskSelector, Group, GroupKind,
    Located, Name, ProxyState, Snapshot, SnapshotKind, Span, Volume,
};
use dmclass_rules::{BootMode, DeviceKind, DiskFacts, Environment, Facts, InUse, FACTS_FORMAT};
use std::path::PathBuf;

pub fn sp(line: u32) -> Span {
    Span { line, column: 3 }
}

pub fn name(s: &str) -> Name {
    Name(s.to_string())
}

pub fn loc(s: &str) -> Located<Name> {
    Located {
        value: name(s),
        span: sp(1),
    }
}

pub fn link(disk: &str) -> PathBuf {
    PathBuf::from(format!("/dev/disk/by-id/test-{disk}"))
}

pub fn disk(n: &str, line: u32) -> Disk {
    Disk {
        name: name(n),
        selector: DiskSelector::Device(link(n)),
        role: DiskRole::Member,
        wipe: false,
        vsan: false,
        node: None,
        span: sp(line),
    }
}

pub fn group(n: &str, kind: GroupKind, members: &[&str]) -> Group {
    Group {
        name: name(n),
        kind,
        members: members.iter().map(|m| loc(m)).collect(),
        span: sp(20),
    }
}

pub fn volume(n: &str, on: &str) -> Volume {
    Volume {
        name: name(n),
        on: loc(on),
        size: Bytes(1 << 30),
        partition: None,
        jrm: true,
        engine: dmclass_model::Engine::Raid1,
        mode: dmclass_model::Mode::Rw,
        autostart: true,
        copy_rate: None,
        span: sp(30),
    }
}

pub fn cow(n: &str, origin: &str) -> Snapshot {
    Snapshot {
        name: name(n),
        origin: loc(origin),
        kind: SnapshotKind::Cow {
            size: Bytes(256 << 20),
            chunk: Bytes(4096),
        },
        span: sp(40),
    }
}

pub fn proxy(n: &str, origin: &str, on: &str, copy: CopyMode) -> Snapshot {
    Snapshot {
        name: name(n),
        origin: loc(origin),
        kind: SnapshotKind::Proxy {
            on: loc(on),
            state: ProxyState::Parted,
            copy,
        },
        span: sp(41),
    }
}

pub fn class(n: &str, class_type: ClassType, disks: Vec<Disk>) -> Class {
    Class {
        name: name(n),
        class_type,
        nodes: if class_type == ClassType::Shared {
            dmclass_model::ClusterNode::in_order(&["node1", "node2"])
        } else {
            Vec::new()
        },
        secret_file: None,
        hot_spare: false,
        disks,
        groups: Vec::new(),
        volumes: Vec::new(),
        snapshots: Vec::new(),
        span: sp(5),
    }
}

pub fn config(classes: Vec<Class>) -> Config {
    Config {
        version: 1,
        environment: None,
        environment_span: None,
        exclude: Vec::new(),
        classes,
    }
}

/// Facts for disks `d1..dN` (device node `/dev/tstN`, by-id link `test-dN`).
pub fn facts(env: Environment, boot: BootMode, kinds: &[DeviceKind]) -> Facts {
    Facts {
        format: FACTS_FORMAT,
        environment: env,
        boot,
        machine: dmclass_rules::MachineFacts::default(),
        disks: kinds
            .iter()
            .enumerate()
            .map(|(i, k)| disk_facts(&format!("d{}", i + 1), *k))
            .collect(),
    }
}

pub fn disk_facts(n: &str, kind: DeviceKind) -> DiskFacts {
    DiskFacts {
        name: format!("tst-{n}"),
        devnode: PathBuf::from(format!("/dev/tst-{n}")),
        kind,
        size: Bytes(8 << 30),
        serial: Some(format!("SER-{n}")),
        wwn: Some(format!("0x5000c500{:0>8}", n.trim_start_matches('d'))),
        vendor: None,
        model: None,
        controller: None,
        links: vec![link(n)],
        signatures: Vec::new(),
        in_use: InUse::default(),
        dmclass: None,
        guest_openers: None,
        properties: std::collections::BTreeMap::default(),
    }
}
