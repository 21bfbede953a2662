//! A simulated machine for end-to-end CLI tests: `DMCLASS_SIM=<dir>` with the facts of
//! an example, one `dmclass` process per command, as an admin would run them.
//! Test files add their own `impl Sim` helpers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // not every test uses all

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (examples are named relative to it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One simulated machine, removed when dropped.
pub struct Sim {
    /// The simulation directory (`facts.json`, `world.json`).
    pub dir: PathBuf,
}

impl Sim {
    /// A fresh machine described by the facts file `facts` (relative to the root).
    pub fn new(tag: &str, facts: &str) -> Sim {
        let dir = std::env::temp_dir().join(format!("dmclass-sim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(root().join(facts), dir.join("facts.json")).unwrap();
        Sim { dir }
    }

    /// Run `dmclass` with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dmclass"))
            .args(args)
            .env("DMCLASS_SIM", &self.dir)
            .envs(env.iter().copied())
            .current_dir(root())
            .output()
            .unwrap()
    }

    /// Run `dmclass`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Run `dmclass`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
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

    /// Run `dmclass`, which must be refused (exit 1); its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(1), "dmclass {args:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Run `dmclass` with a bad command line (exit 2); its stderr.
    pub fn usage(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(2), "dmclass {args:?} is bad usage");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Run `dmclass`, which must succeed; its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// The saved simulated world (empty before the first change).
    pub fn world(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("world.json")).unwrap_or_default()
    }

    /// Be cluster node `name` from now on (the facts' host name).
    pub fn be(&self, name: &str) {
        let path = self.dir.join("facts.json");
        let mut facts: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        facts["machine"]["hostname"] = name.into();
        std::fs::write(&path, facts.to_string()).unwrap();
    }

    /// Run `dmclass` with `DMCLASS_FAILPOINT` armed (`None`: explicitly unset).
    pub fn run_fp(&self, args: &[&str], failpoint: Option<&str>) -> Output {
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

    /// The proxy example's class without its `snapshots:` (the proxy is joined by
    /// command), written to `base.yaml` in the simulation directory; its path.
    pub fn proxy_base(&self) -> String {
        let full = std::fs::read_to_string(root().join("examples/kvm-guest-proxy.yaml")).unwrap();
        let mut base = String::new();
        for l in full
            .lines()
            .take_while(|l| !l.trim_start().starts_with("snapshots:"))
        {
            base.push_str(l);
            base.push('\n');
        }
        let p = self.dir.join("base.yaml");
        std::fs::write(&p, base).unwrap();
        p.display().to_string()
    }

    /// The proxy example with its proxy `state: parted`, written to `parted.yaml` in
    /// the simulation directory (the example itself joins: a new proxy is joined
    /// first); its path.
    pub fn proxy_parted(&self) -> String {
        let full = std::fs::read_to_string(root().join("examples/kvm-guest-proxy.yaml")).unwrap();
        assert!(full.contains("state: joined"), "the proxy example changed");
        let p = self.dir.join("parted.yaml");
        std::fs::write(&p, full.replace("state: joined", "state: parted")).unwrap();
        p.display().to_string()
    }

    /// A power cut: every dm device gone, the disks keep what was written.
    pub fn power_cut(&self) {
        let world = self.dir.join("world.json");
        let (mut k, d) = dmclass_engine::sim::load(&world).unwrap();
        k.reboot();
        dmclass_engine::sim::save(&d, &world).unwrap();
    }

    /// Mark a dm device open by an outside process in the saved world.
    pub fn set_open(&self, dev: &str, n: u32) {
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

/// Checks a `--json` document against its schema in `docs/schemas/` (named by the
/// document's own `schema` field: `dmclass-status/1` -> `dmclass-status-1.json`).
pub fn assert_schema(doc: &Value) {
    let id = doc["schema"]
        .as_str()
        .unwrap_or_else(|| panic!("no schema field: {doc}"));
    let file = root()
        .join("docs/schemas")
        .join(format!("{}.json", id.replace('/', "-")));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{id}: {errors:#?}\n{doc:#}");
}
