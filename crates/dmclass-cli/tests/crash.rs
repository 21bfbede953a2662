//! Crash safety end to end: `DMCLASS_FAILPOINT` stops `apply` as if killed (exit 137),
//! a simulated power cut drops the kernel state, `activate` finishes the interrupted
//! apply, and re-applying the file converges.

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
    fn new(tag: &str) -> Sim {
        let dir = std::env::temp_dir().join(format!("dmclass-crash-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            root().join("examples/kvm-guest-mirror.facts.json"),
            dir.join("facts.json"),
        )
        .unwrap();
        Sim { dir }
    }

    fn run(&self, args: &[&str], failpoint: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dmclass"));
        c.args(args)
            .env("DMCLASS_SIM", &self.dir)
            .env_remove("DMCLASS_FAILPOINT")
            .current_dir(root());
        if let Some(f) = failpoint {
            c.env("DMCLASS_FAILPOINT", f);
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let o = self.run(args, None);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            o.status.success(),
            "dmclass {args:?}: {:?}\n{out}\n{err}",
            o.status.code()
        );
        (out, err)
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "data", "--json"]).0).unwrap()
    }

    /// A power cut: every dm device gone, the disks keep what was written.
    fn power_cut(&self) {
        let world = self.dir.join("world.json");
        let (mut k, d) = dmclass_engine::sim::load(&world).unwrap();
        k.reboot();
        dmclass_engine::sim::save(&d, &world).unwrap();
    }

    /// The example with vol1 grown to `size`.
    fn grown(&self, size: &str) -> String {
        let text = std::fs::read_to_string(root().join("examples/kvm-guest-mirror.yaml")).unwrap();
        let p = self.dir.join("grown.yaml");
        std::fs::write(&p, text.replace("size: 1GiB", &format!("size: {size}"))).unwrap();
        p.display().to_string()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn vol1(st: &Value) -> &Value {
    st["classes"][0]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "vol1")
        .unwrap()
}

#[test]
fn grow_killed_before_resume_then_power_cut_is_finished_by_activate() {
    let sim = Sim::new("grow");
    sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    let grown = sim.grown("2GiB");
    let point = "before:resume:dmclass-data-vol1";
    let o = sim.run(&["apply", &grown, "--yes"], Some(point));
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains(point));
    // The intent is on disk; status shows it; planning refuses until activate.
    let st = sim.status();
    assert!(
        st["classes"][0]["pending_intent"]
            .as_str()
            .unwrap()
            .contains("grow vol1"),
        "{st}"
    );
    assert_eq!(st["classes"][0]["closed"], false);
    let o = sim.run(&["plan", &grown], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted apply"));
    sim.power_cut();
    let (_, err) = sim.ok(&["activate", "--all"]);
    assert!(err.contains("interrupted apply"), "{err}");
    let st = sim.status();
    assert!(st["classes"][0]["pending_intent"].is_null(), "{st}");
    assert_eq!(vol1(&st)["state"], "ACTIVE");
    assert_eq!(vol1(&st)["size"], 2u64 << 30);
    let (out, _) = sim.ok(&["apply", &grown, "--yes"]);
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn every_action_of_a_grow_can_be_killed_and_recovered() {
    let probe = Sim::new("each");
    probe.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    let grown = probe.grown("1536MiB");
    let plan: Value = serde_json::from_str(&probe.ok(&["plan", &grown, "--json"]).0).unwrap();
    let n = plan["classes"][0]["actions"].as_array().unwrap().len();
    assert!(n >= 6, "{plan}");
    drop(probe);
    for k in 1..=n {
        let sim = Sim::new(&format!("each{k}"));
        sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
        let grown = sim.grown("1536MiB");
        let o = sim.run(&["apply", &grown, "--yes"], Some(&format!("action:{k}")));
        assert_eq!(
            o.status.code(),
            Some(137),
            "action:{k}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if k % 2 == 1 {
            sim.power_cut();
        }
        sim.ok(&["activate", "data"]);
        let st = sim.status();
        assert!(
            st["classes"][0]["pending_intent"].is_null(),
            "action:{k}: {st}"
        );
        assert_eq!(vol1(&st)["state"], "ACTIVE", "action:{k}");
        let (out, _) = sim.ok(&["apply", &grown, "--yes"]);
        assert!(out.contains("nothing to do"), "action:{k}: {out}");
        assert_eq!(vol1(&sim.status())["size"], 1536u64 << 20, "action:{k}");
    }
}

#[test]
fn a_malformed_failpoint_is_refused_before_anything_is_written() {
    let sim = Sim::new("bad");
    let o = sim.run(
        &["apply", "examples/kvm-guest-mirror.yaml", "--yes"],
        Some("sideways:1"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("failpoint"));
    let st = sim.run(&["status", "--json"], None);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(v["classes"].as_array().unwrap().is_empty(), "{v}");
}
