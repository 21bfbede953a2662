//! The whole command line end to end on the simulated kernel and disks
//! (`DMCLASS_SIM=<dir>`), across separate invocations as an admin would run them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::Sim;

fn volume<'a>(status: &'a Value, class: &str, vol: &str) -> &'a Value {
    status["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == class)
        .and_then(|c| {
            c["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == vol)
        })
        .unwrap_or_else(|| panic!("no {class}/{vol} in {status}"))
}

#[test]
fn apply_status_deactivate_activate_export() {
    let sim = Sim::new("life", "examples/kvm-guest-mirror.facts.json");
    let yaml = "examples/kvm-guest-mirror.yaml";

    let out = sim.ok(&["apply", yaml, "--yes"]);
    assert!(out.contains("/dev/dmclass/data/vol1"), "{out}");

    // Idempotent: the same file plans nothing.
    let out = sim.ok(&["apply", yaml, "--yes"]);
    assert!(out.contains("nothing to do"), "{out}");
    let plan = sim.json(&["plan", yaml, "--json"]);
    for c in plan["classes"].as_array().unwrap() {
        assert!(c["actions"].as_array().unwrap().is_empty(), "{plan}");
    }

    let st = sim.json(&["status", "--json"]);
    let v1 = volume(&st, "data", "vol1");
    assert_eq!(v1["state"], "ACTIVE");
    assert_eq!(v1["path"], "/dev/dmclass/data/vol1");
    assert_eq!(v1["size"], 1u64 << 30);
    assert_eq!(v1["slices"].as_array().unwrap().len(), 2);
    assert_eq!(volume(&st, "data", "vol2")["engine"], "mirror");

    // Export re-applies as a no-op.
    let exported = sim.ok(&["export", "data"]);
    let file = sim.dir.join("exported.yaml");
    std::fs::write(&file, exported).unwrap();
    let out = sim.ok(&["apply", file.to_str().unwrap(), "--yes"]);
    assert!(out.contains("nothing to do"), "{out}");

    sim.ok(&["deactivate", "data"]);
    let st = sim.json(&["status", "data", "--json"]);
    assert_eq!(volume(&st, "data", "vol1")["state"], "STOP");

    let out = sim.ok(&["activate", "--all"]);
    assert!(out.contains("2 started"), "{out}");
    let st = sim.json(&["status", "--json"]);
    assert_eq!(volume(&st, "data", "vol1")["state"], "ACTIVE");
    // Activating again changes nothing.
    let out = sim.ok(&["activate", "data"]);
    assert!(out.contains("0 started, 2 already active"), "{out}");
}

#[test]
fn refused_apply_changes_nothing() {
    let sim = Sim::new("refuse", "examples/kvm-guest-mirror.facts.json");
    // d1 carries an ext4 file system and the file does not say `wipe: true`.
    let facts_path = sim.dir.join("facts.json");
    let mut facts: Value = serde_json::from_slice(&std::fs::read(&facts_path).unwrap()).unwrap();
    facts["disks"][0]["signatures"] = serde_json::json!([{"type": "ext4", "usage": "filesystem"}]);
    std::fs::write(&facts_path, serde_json::to_vec(&facts).unwrap()).unwrap();
    let o = sim.run(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ext4") && err.contains("nothing was touched"),
        "{err}"
    );
    // No byte was written to any simulated disk, and no device was created.
    let world: Value = serde_json::from_slice(&sim.world()).unwrap();
    for d in world["disks"].as_array().unwrap() {
        assert_eq!(d["bytes_written"], 0, "{}", d["path"]);
        assert!(d["pages"].as_object().unwrap().is_empty(), "{}", d["path"]);
    }
    assert!(world["devices"].as_array().unwrap().is_empty());
    // A second refusal leaves the world byte-identical.
    let before = sim.world();
    assert_eq!(
        sim.run(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(before, sim.world());
}

#[test]
fn usage_and_unknown_classes() {
    let sim = Sim::new("usage", "examples/kvm-guest-mirror.facts.json");
    assert_eq!(sim.run(&["activate"]).status.code(), Some(2));
    assert_eq!(sim.run(&["deactivate"]).status.code(), Some(2));
    let o = sim.run(&["deactivate", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no class `nosuch`"));
    assert_eq!(sim.run(&["export", "nosuch"]).status.code(), Some(1));
    // Not confirmed without a terminal and without --yes.
    let o = sim.run(&["apply", "examples/kvm-guest-mirror.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    // esp sync mounts file systems: refused on the simulated machine, saying why;
    // --from and --esp-path exclude each other (usage).
    let o = sim.run(&["esp", "sync"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("real machine only"));
    let o = sim.run(&["esp", "sync", "--from", "d1", "--esp-path", "/efi"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A volume with `autostart: false` is left inactive by `activate`, which says so and
/// succeeds: the admin asked for it (it is not a failure to start).
#[test]
fn activate_leaves_manual_volumes_inactive_and_succeeds() {
    let sim = Sim::new("manual", "examples/kvm-guest-mirror.facts.json");
    let yaml = std::fs::read_to_string(support::root().join("examples/kvm-guest-mirror.yaml"))
        .unwrap()
        .replace(
            "{name: vol2, on: g1, size: 512MiB, engine: mirror}",
            "{name: vol2, on: g1, size: 512MiB, engine: mirror, autostart: false}",
        );
    assert!(yaml.contains("autostart: false"));
    let file = sim.dir.join("manual.yaml");
    std::fs::write(&file, yaml).unwrap();
    sim.ok(&["apply", file.to_str().unwrap(), "--yes"]);
    sim.ok(&["deactivate", "data"]);
    let out = sim.ok(&["activate", "data"]);
    assert!(
        out.contains("volume vol2 left inactive (autostart: false)"),
        "{out}"
    );
    assert!(out.contains("1 started"), "{out}");
    let st = sim.json(&["status", "--json"]);
    assert_eq!(volume(&st, "data", "vol1")["state"], "ACTIVE");
    assert_eq!(volume(&st, "data", "vol2")["state"], "STOP");
}

/// Without a terminal the plan is printed once and no step again (issue: 74 lines for
/// two volumes); `-v` adds one plain log line per step, `-q` with `--yes` prints the
/// result lines only. No control characters either way.
#[test]
fn apply_prints_the_plan_once_and_steps_only_when_asked() {
    let yaml = "examples/kvm-guest-mirror.yaml";
    let text = |o: &std::process::Output| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let sim = Sim::new("out-default", "examples/kvm-guest-mirror.facts.json");
    let (out, err) = text(&sim.run(&["apply", yaml, "--yes"]));
    let actions = out
        .lines()
        .filter(|l| l.trim_start().starts_with("1. "))
        .count();
    assert_eq!(actions, 1, "the plan once: {out}");
    assert!(!err.contains("[1/"), "no step lines without -v: {err}");
    assert!(
        err.contains("dmclass: simulated machine (DMCLASS_SIM="),
        "the simulator says so: {err}"
    );
    assert!(out.contains("class data: applied"), "{out}");
    assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}') && !err.contains('\r'));

    let sim = Sim::new("out-verbose", "examples/kvm-guest-mirror.facts.json");
    let (_, err) = text(&sim.run(&["-v", "apply", yaml, "--yes"]));
    assert!(err.lines().any(|l| l.starts_with("  [1/")), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err}");

    let sim = Sim::new("out-quiet", "examples/kvm-guest-mirror.facts.json");
    let (out, err) = text(&sim.run(&["-q", "apply", yaml, "--yes"]));
    assert!(!out.contains("zero_extent"), "no plan with -q --yes: {out}");
    assert!(out.contains("class data: applied"), "{out}");
    assert!(err.is_empty(), "{err}");
    // The result is the same as without -q.
    let st = sim.json(&["status", "data", "--json"]);
    assert_eq!(
        st["classes"][0]["volumes"].as_array().map(Vec::len),
        Some(2)
    );
}
