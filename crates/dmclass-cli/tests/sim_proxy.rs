//! `dmclass proxy` and declarative proxy volumes end to end on the simulated kernel
//! and disks (`DMCLASS_SIM=<dir>`), one process per command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Sim {
    dir: PathBuf,
}

impl Sim {
    fn new(tag: &str, facts: &str) -> Sim {
        let dir = std::env::temp_dir().join(format!("dmclass-proxy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(root().join(facts), dir.join("facts.json")).unwrap();
        Sim { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dmclass"))
            .args(args)
            .env("DMCLASS_SIM", &self.dir)
            .current_dir(root())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "dmclass {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(1), "dmclass {args:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn proxy(&self) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
        v["classes"][0]["proxies"][0].clone()
    }

    /// Marks a dm device open by an outside process in the saved world.
    fn set_open(&self, dev: &str, n: u32) {
        let p = self.dir.join("world.json");
        let mut w: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for d in w["devices"].as_array_mut().unwrap() {
            if d["name"] == dev {
                d["external_opens"] = n.into();
            }
        }
        std::fs::write(&p, serde_json::to_vec(&w).unwrap()).unwrap();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn join_part_restore_refused_rejoin_declarative_part() {
    let sim = Sim::new("life", "examples/kvm-guest-proxy.facts.json");
    let full = std::fs::read_to_string(root().join("examples/kvm-guest-proxy.yaml")).unwrap();
    let mut base = String::new();
    for l in full
        .lines()
        .take_while(|l| !l.trim_start().starts_with("snapshots:"))
    {
        base.push_str(l);
        base.push('\n');
    }
    let file = sim.dir.join("base.yaml");
    std::fs::write(&file, base).unwrap();
    sim.ok(&["apply", file.to_str().unwrap(), "--yes"]);
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
    sim.set_open("dmclass-data-vol1", 1);
    let err = sim.fails(&["proxy", "restore", "data/vol1-copy"]);
    assert!(err.contains("in use"), "{err}");
    sim.set_open("dmclass-data-vol1", 0);
    sim.ok(&["proxy", "rejoin", "data/vol1-copy"]);
    assert_eq!(sim.proxy()["state"], "JOINED");
    // The example file says parted: apply parts it read-write (rejoin: full copy).
    sim.ok(&["apply", "examples/kvm-guest-proxy.yaml", "--yes"]);
    let p = sim.proxy();
    assert_eq!(
        (p["state"].as_str(), p["rejoin"].as_str()),
        (Some("PARTED"), Some("full copy"))
    );
    let exported = sim.ok(&["export", "data"]);
    assert!(
        exported.contains("type: proxy") && exported.contains("state: parted"),
        "{exported}"
    );
}
