//! `copy_rate` and `dmclass tune` end to end on the simulated kernel and disks
//! (`DMCLASS_SIM=<dir>`), one process per command: the rate reaches the raid1 table,
//! status and export show it, and `tune` changes it on the running volume.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::{root, Sim};

impl Sim {
    /// The saved simulated world as text (device tables included).
    fn world_text(&self) -> String {
        String::from_utf8_lossy(&self.world()).into_owned()
    }

    /// `copy_rate` of data/`vol` in `status --json` (null when unset).
    fn rate(&self, vol: &str) -> Value {
        let st: Value = serde_json::from_str(&self.ok(&["status", "data", "--json"])).unwrap();
        st["classes"][0]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == vol)
            .map(|v| v["copy_rate"].clone())
            .unwrap()
    }
}

#[test]
fn copy_rate_applies_tunes_at_run_time_and_exports() {
    let sim = Sim::new("rate", "examples/kvm-guest-mirror.facts.json");
    let text = std::fs::read_to_string(root().join("examples/kvm-guest-mirror.yaml")).unwrap();
    let text = text.replace(
        "size: 1GiB, jrm: true}",
        "size: 1GiB, jrm: true, copy_rate: 50MiB}",
    );
    assert!(text.contains("copy_rate: 50MiB"));
    let file = sim.dir.join("rate.yaml");
    std::fs::write(&file, &text).unwrap();
    let file = file.to_str().unwrap();

    // The plan shows the parameter; the simulated kernel accepts it.
    let tables = sim.ok(&["plan", file, "--tables"]);
    assert!(
        tables.contains("raid raid1 5 0 max_recovery_rate 51200 region_size "),
        "{tables}"
    );
    sim.ok(&["apply", file, "--yes"]);
    assert!(sim.world_text().contains("max_recovery_rate 51200"));
    assert_eq!(sim.rate("vol1"), Value::from(50u64 << 20));
    assert_eq!(sim.rate("vol2"), Value::Null);
    assert!(sim
        .ok(&["status", "data"])
        .contains("copy rate 50MiB/s per disk"));
    assert!(sim.ok(&["export", "data"]).contains("copy_rate: 50MiB"));
    assert!(sim.ok(&["apply", file, "--yes"]).contains("nothing to do"));

    // At run time: recorded and the live table reloaded.
    let out = sim.ok(&["tune", "data/vol1", "--copy-rate", "10MiB"]);
    assert!(out.contains("copy rate set to 10MiB/s per disk"), "{out}");
    let world = sim.world_text();
    assert!(world.contains("max_recovery_rate 10240") && !world.contains("51200"));
    assert_eq!(sim.rate("vol1"), Value::from(10u64 << 20));
    let exported = sim.ok(&["export", "data"]);
    assert!(exported.contains("copy_rate: 10MiB"), "{exported}");
    let again = sim.dir.join("exported.yaml");
    std::fs::write(&again, exported).unwrap();
    assert!(sim
        .ok(&["apply", again.to_str().unwrap(), "--yes"])
        .contains("nothing to do"));
    let out = sim.ok(&["tune", "data/vol1", "--copy-rate", "10MiB"]);
    assert!(out.contains("already 10MiB/s"), "{out}");

    // Survives deactivate / activate (the rate is in the metadata).
    sim.ok(&["deactivate", "data"]);
    sim.ok(&["activate", "data"]);
    assert!(sim.world_text().contains("max_recovery_rate 10240"));

    // `default` clears it: no parameter, nothing exported.
    sim.ok(&["tune", "data/vol1", "--copy-rate", "default"]);
    assert!(!sim.world_text().contains("max_recovery_rate"));
    assert_eq!(sim.rate("vol1"), Value::Null);
    assert!(!sim.ok(&["export", "data"]).contains("copy_rate"));

    // Refusals change nothing.
    let before = sim.world_text();
    let e = sim.fails(&["tune", "data/vol2", "--copy-rate", "1MiB"]);
    assert!(e.contains("raid1"), "{e}");
    let e = sim.usage(&["tune", "data/vol1", "--copy-rate", "1536"]);
    assert!(e.contains("whole number of KiB"), "{e}");
    let e = sim.usage(&["tune", "data/vol1", "--copy-rate", "fast"]);
    assert!(e.contains("--copy-rate"), "{e}");
    let e = sim.fails(&["tune", "data/nope", "--copy-rate", "1MiB"]);
    assert!(e.contains("no volume `nope`"), "{e}");
    assert_eq!(sim.world_text(), before);
}
