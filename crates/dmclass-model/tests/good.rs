//! Good files parse, carry the documented defaults, and survive `to_yaml` → `parse`.

#![allow(clippy::unwrap_used)]

use dmclass_model::parse::DEFAULT_COW_CHUNK;
use dmclass_model::*;
use std::path::Path;

fn load(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/good")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    match parse(name, &text) {
        Ok(c) => c,
        Err(d) => panic!("{d}"),
    }
}

fn round_trip(config: &Config) {
    // What parses also passes the checks for configurations built in code (the
    // config fuzz target holds every input to this).
    validate("good.yaml", config).unwrap_or_else(|d| panic!("{d}"));
    let yaml = to_yaml(config);
    let again = parse("emitted.yaml", &yaml).unwrap_or_else(|d| panic!("{d}\n---\n{yaml}"));
    assert_eq!(again.without_spans(), config.without_spans(), "\n{yaml}");
    // Canonical: emitting again gives the same text.
    assert_eq!(to_yaml(&again), yaml);
}

#[test]
fn every_good_file_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        round_trip(&load(&name));
        n += 1;
    }
    assert!(n >= 4);
}

#[test]
fn design_example_reads_as_documented() {
    let c = load("design.yaml");
    assert_eq!(c.version, 1);
    assert_eq!(c.environment, None);
    assert_eq!(
        c.exclude[0].value,
        Path::new("/dev/disk/by-id/virtio-guest01")
    );
    assert_eq!(
        c.exclude[0].span,
        Span {
            line: 3,
            column: 11
        }
    );
    let class = &c.classes[0];
    assert_eq!(class.name.as_str(), "data");
    assert_eq!(class.class_type, ClassType::Local);
    assert!(class.hot_spare);
    assert_eq!(class.span, Span { line: 5, column: 5 });
    assert_eq!(class.disks.len(), 5);
    assert_eq!(class.disks[0].role, DiskRole::Member);
    assert!(!class.disks[0].wipe && !class.disks[0].vsan);
    assert_eq!(class.disks[4].role, DiskRole::Spare);
    assert_eq!(
        class.groups[1].members[1].span,
        Span {
            line: 16,
            column: 48
        }
    );
    let v = &class.volumes[0];
    assert_eq!(v.size, Bytes(1 << 30));
    assert!(v.jrm && v.autostart);
    assert_eq!((v.engine, v.mode), (Engine::Raid1, Mode::Rw));
    assert_eq!(
        class.snapshots[0].kind,
        SnapshotKind::Cow {
            size: Bytes(256 << 20),
            chunk: DEFAULT_COW_CHUNK
        }
    );
    assert_eq!(DEFAULT_COW_CHUNK, Bytes(4096));
    let SnapshotKind::Proxy { on, state, copy } = &class.snapshots[1].kind else {
        panic!("not a proxy")
    };
    assert_eq!(on.value.as_str(), "g2");
    assert_eq!((*state, *copy), (ProxyState::Parted, CopyMode::Software));
}

#[test]
fn full_example_has_every_construct() {
    let c = load("full.yaml");
    assert_eq!(c.environment, Some(Environment::KvmGuest));
    assert_eq!(c.classes.len(), 3);
    let sys = &c.classes[0];
    assert_eq!(sys.disks[1].selector, DiskSelector::Serial("ROOT2".into()));
    assert!(sys.disks[1].wipe);
    assert_eq!(sys.volumes[0].copy_rate, Some(Bytes(50 << 20)));
    // `partition` without `size`: the partition's size (0 until planned).
    assert_eq!(sys.volumes[0].partition, Some(2));
    assert_eq!(sys.volumes[0].size, Bytes(0));
    assert_eq!(sys.volumes[1].partition, Some(3));
    assert_eq!(sys.volumes[1].copy_rate, None);
    assert_eq!(sys.volumes[1].size, Bytes(2 << 30));
    assert_eq!(sys.volumes[1].engine, Engine::Mirror);
    assert!(!sys.volumes[1].jrm);
    let data = &c.classes[1];
    assert_eq!(data.name.as_str(), "null");
    assert_eq!(
        data.groups[0].kind,
        GroupKind::Stripe {
            stripe_size: Bytes(65536)
        }
    );
    assert_eq!(data.volumes[0].mode, Mode::Ro);
    assert!(!data.volumes[0].autostart);
    let SnapshotKind::Proxy { state, copy, .. } = &data.snapshots[1].kind else {
        panic!("not a proxy")
    };
    assert_eq!((*state, *copy), (ProxyState::Joined, CopyMode::Offload));
    let shared = &c.classes[2];
    assert_eq!(shared.node_names(), ["node1", "node2"]);
    assert_eq!(
        shared
            .nodes
            .iter()
            .map(|n| n.host_id.get())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(shared.disks[1].node.as_deref(), Some("node2"));
    assert_eq!(shared.groups[0].kind, GroupKind::Netmirror);
}

#[test]
fn awkward_text_is_quoted_on_output() {
    let mut c = load("minimal.yaml");
    c.exclude.push(Located {
        value: "/dev/disk/by-id/a b\"c\\d: #e, [f]\u{1}".into(),
        span: Span::default(),
    });
    c.classes.push(Class {
        name: Name("true".into()),
        class_type: ClassType::Local,
        nodes: Vec::new(),
        secret_file: None,
        hot_spare: false,
        disks: vec![Disk {
            name: Name("+".into()),
            selector: DiskSelector::Serial("~".into()),
            role: DiskRole::Single,
            wipe: false,
            vsan: false,
            node: None,
            span: Span::default(),
        }],
        groups: Vec::new(),
        volumes: Vec::new(),
        snapshots: Vec::new(),
        span: Span::default(),
    });
    round_trip(&c);
}

#[test]
fn validate_checks_configs_built_in_code() {
    let mut c = load("design.yaml");
    assert!(validate("mem", &c).is_ok());
    c.classes[0].volumes[0].on.value = Name("nowhere".into());
    c.classes[0].disks[0].name = Name("bad name".into());
    let d = validate("mem", &c).unwrap_err();
    let text = d.to_string();
    assert!(text.contains("invalid name `bad name`"), "{text}");
    assert!(text.contains("which is no group or disk"), "{text}");
}

#[test]
fn shared_nodes_carry_host_ids_short_form_in_order() {
    let c = load("host_ids.yaml");
    let shc = &c.classes[0];
    let ids: Vec<(&str, u16)> = shc
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.host_id.get()))
        .collect();
    assert_eq!(ids, [("node-a", 7), ("node-b", 2000)]);
    // Explicit ids are written back explicitly; ids in order in the short form.
    let yaml = to_yaml(&c);
    assert!(
        yaml.contains("nodes: [{name: node-a, host_id: 7}, {name: node-b, host_id: 2000}]"),
        "{yaml}"
    );
    let design = load("full.yaml");
    let shared = design
        .classes
        .iter()
        .find(|c| c.class_type == ClassType::Shared)
        .unwrap();
    assert!(ClusterNode::ids_in_order(&shared.nodes));
    // Addresses (netmirror) keep the mapping form, IPv6 quoted.
    let addrs: Vec<String> = shared
        .nodes
        .iter()
        .filter_map(|n| n.address.map(|a| a.to_string()))
        .collect();
    assert_eq!(addrs, ["10.0.0.1", "fd00::2"]);
    let yaml = to_yaml(&design);
    assert!(
        yaml.contains(
            "nodes: [{name: node1, host_id: 1, address: 10.0.0.1}, \
             {name: node2, host_id: 2, address: \"fd00::2\"}]"
        ),
        "{yaml}"
    );
    assert_eq!(HostId::new(0), None);
    assert_eq!(HostId::new(2001), None);
    assert_eq!(HostId::new(u64::MAX), None);
}
