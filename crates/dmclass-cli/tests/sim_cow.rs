//! `dmclass snapshot` and declarative cow snapshots end to end on the simulated
//! kernel and disks (`DMCLASS_SIM=<dir>`), one process per command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::{root, Sim};

impl Sim {
    fn snapshots(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
        v["classes"][0]["snapshots"].as_array().unwrap().clone()
    }
}

#[test]
fn create_status_export_merge_remove() {
    let sim = Sim::new("life", "examples/kvm-guest-mirror.facts.json");
    sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    let out = sim.ok(&["snapshot", "create", "data/vol1", "s1", "--size", "8MiB"]);
    assert!(out.contains("/dev/dmclass/data/s1"), "{out}");
    let snaps = sim.snapshots();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["kind"], "cow");
    assert_eq!(snaps[0]["origin"], "vol1");
    assert_eq!(snaps[0]["state"], "ACTIVE");
    assert_eq!(snaps[0]["chunk"], 4096);
    assert_eq!(snaps[0]["usage"]["total"], 8 << 20);
    assert!(snaps[0]["usage"]["percent"].as_f64().unwrap() < 1.0);
    let text = sim.ok(&["status"]);
    assert!(
        text.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 6 && w[..2] == ["snap", "s1"] && w[5] == "ACTIVE" && l.contains("of 8M (")
        }),
        "{text}"
    );
    // The origin's slices still report the raid1 legs (through -real).
    let st: Value = serde_json::from_str(&sim.ok(&["status", "--json"])).unwrap();
    let vol1 = &st["classes"][0]["volumes"][0];
    assert_eq!(vol1["slices"][0]["state"], "ACTIVE");

    // Export carries the snapshot and re-applies as a no-op.
    let exported = sim.ok(&["export", "data"]);
    assert!(exported.contains("type: cow"), "{exported}");
    let file = sim.dir.join("exported.yaml");
    std::fs::write(&file, exported).unwrap();
    assert!(sim
        .ok(&["apply", file.to_str().unwrap(), "--yes"])
        .contains("nothing to do"));
    // The original file lacks the snapshot: removing it needs --allow-destroy.
    let err = sim.fails(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    assert!(err.contains("--allow-destroy"), "{err}");

    // Survives deactivate + activate.
    sim.ok(&["deactivate", "data"]);
    assert_eq!(sim.snapshots()[0]["state"], "STOP");
    sim.ok(&["activate", "data"]);
    assert_eq!(sim.snapshots()[0]["state"], "ACTIVE");

    // Merge: started and (the simulated kernel is quick) finished in one call.
    let out = sim.ok(&["snapshot", "merge", "data/s1", "--yes"]);
    assert!(out.contains("merge finished"), "{out}");
    assert!(sim.snapshots().is_empty());

    // Two snapshots; remove one, then the other.
    sim.ok(&[
        "snapshot",
        "create",
        "data/vol1",
        "a",
        "--size",
        "4MiB",
        "--chunk",
        "8KiB",
    ]);
    sim.ok(&["snapshot", "create", "data/vol1", "b", "--size", "4MiB"]);
    assert_eq!(sim.snapshots().len(), 2);
    sim.ok(&["snapshot", "remove", "data/a", "--yes"]);
    let snaps = sim.snapshots();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["name"], "b");
    for args in [
        ["snapshot", "merge", "data/b"],
        ["snapshot", "remove", "data/b"],
    ] {
        let before = sim.world();
        let err = sim.fails(&args);
        assert!(
            err.contains("--yes") && err.contains("nothing was changed"),
            "{args:?}: {err}"
        );
        assert_eq!(sim.world(), before, "{args:?}");
    }
    sim.ok(&["snapshot", "remove", "data/b", "--yes"]);
    assert!(sim.snapshots().is_empty());
    let err = sim.fails(&["snapshot", "remove", "data/b", "--yes"]);
    assert!(err.contains("no snapshot"), "{err}");
    // Bad usage and bad sizes.
    assert_eq!(
        sim.run(&["snapshot", "create", "data/vol1", "x"])
            .status
            .code(),
        Some(2)
    );
    let err = sim.usage(&["snapshot", "create", "data/vol1", "x", "--size", "8MB"]);
    assert!(err.contains("MiB") && err.contains("--size"), "{err}");
    let err = sim.usage(&[
        "snapshot",
        "create",
        "data/vol1",
        "x",
        "--size",
        "8MiB",
        "--chunk",
        "3KiB",
    ]);
    assert!(err.contains("--chunk"), "{err}");
}

#[test]
fn s3a_open_guest_volume_on_a_kvm_host() {
    let sim = Sim::new("s3a", "examples/kvm-host-guest-images.facts.json");
    // The class without its snapshot first.
    let yaml = std::fs::read_to_string(root().join("examples/kvm-host-guest-images.yaml")).unwrap();
    let cut = yaml.find("    snapshots:").unwrap();
    let file = sim.dir.join("images.yaml");
    std::fs::write(&file, &yaml[..cut]).unwrap();
    sim.ok(&["apply", file.to_str().unwrap(), "--yes"]);
    sim.set_open("dmclass-vmimages-guest01--os", 1);
    let args = [
        "snapshot",
        "create",
        "vmimages/guest01-os",
        "before",
        "--size",
        "16MiB",
    ];
    let err = sim.fails(&args);
    assert!(
        err.contains("S3a") && err.contains("guest stopped"),
        "{err}"
    );
    assert!(sim.snapshots().is_empty(), "nothing changed");
    let mut forced = args.to_vec();
    forced.push("--force");
    sim.ok(&forced);
    assert_eq!(sim.snapshots()[0]["state"], "ACTIVE");
    // The declarative file's snapshot is created by apply too.
    sim.set_open("dmclass-vmimages-guest01--os", 0);
    sim.ok(&[
        "apply",
        "examples/kvm-host-guest-images.yaml",
        "--yes",
        "--allow-destroy",
    ]);
    let names: Vec<String> = sim
        .snapshots()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["guest01-before-upgrade"]);
}
