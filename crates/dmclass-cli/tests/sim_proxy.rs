//! `dmclass proxy` and declarative proxy volumes end to end on the simulated kernel
//! and disks (`DMCLASS_SIM=<dir>`), one process per command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::Sim;

impl Sim {
    fn proxy(&self) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
        v["classes"][0]["proxies"][0].clone()
    }
}

#[test]
fn join_part_restore_refused_rejoin_declarative_part() {
    let sim = Sim::new("life", "examples/kvm-guest-proxy.facts.json");
    let file = sim.proxy_base();
    sim.ok(&["apply", &file, "--yes"]);
    let out = sim.ok(&["proxy", "join", "data/vol1", "vol1-copy", "--on", "g2"]);
    assert!(out.contains("joined"), "{out}");
    let p = sim.proxy();
    assert_eq!(
        (p["kind"].as_str(), p["state"].as_str()),
        (Some("proxy"), Some("JOINED"))
    );
    assert_eq!(p["master"], "vol1");
    let out = sim.ok(&["proxy", "part", "data/vol1-copy", "--readonly"]);
    assert!(out.contains("/dev/dmclass/data/vol1-copy"), "{out}");
    let p = sim.proxy();
    assert_eq!(
        (p["state"].as_str(), p["rejoin"].as_str()),
        (Some("PARTED"), Some("incremental"))
    );
    assert!(sim.ok(&["status"]).contains("proxy  vol1-copy"));
    // Restore refused while the master is open, with the reason.
    // Without --yes and without a terminal: refused, nothing changed.
    let before = sim.world();
    let err = sim.fails(&["proxy", "restore", "data/vol1-copy"]);
    assert!(
        err.contains("--yes") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(sim.world(), before);
    sim.set_open("dmclass-data-vol1", 1);
    let err = sim.fails(&["proxy", "restore", "data/vol1-copy", "--yes"]);
    assert!(err.contains("in use"), "{err}");
    sim.set_open("dmclass-data-vol1", 0);
    sim.ok(&["proxy", "rejoin", "data/vol1-copy"]);
    assert_eq!(sim.proxy()["state"], "JOINED");
    // The example file saying parted: apply parts it read-write (rejoin: full copy).
    let parted = sim.proxy_parted();
    sim.ok(&["apply", &parted, "--yes"]);
    let p = sim.proxy();
    assert_eq!(
        (p["state"].as_str(), p["rejoin"].as_str()),
        (Some("PARTED"), Some("full copy"))
    );
    // Back to joined in the file: the proxy's own writes would be discarded, so the
    // plan says so and apply needs --allow-destroy.
    let before = sim.world();
    let err = sim.fails(&["apply", "examples/kvm-guest-proxy.yaml", "--yes"]);
    assert!(
        err.contains("--allow-destroy") && err.contains("parted read-write"),
        "{err}"
    );
    assert_eq!(sim.world(), before);
    let exported_parted = sim.ok(&["export", "data"]);
    let plan = sim.ok(&["plan", "examples/kvm-guest-proxy.yaml", "--allow-destroy"]);
    assert!(plan.contains("destroys the proxy's own writes"), "{plan}");
    let exported = exported_parted;
    assert!(
        exported.contains("type: proxy") && exported.contains("state: parted"),
        "{exported}"
    );
}
