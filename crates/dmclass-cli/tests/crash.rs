//! Crash safety end to end: `DMCLASS_FAILPOINT` stops `apply` or `proxy part` as if
//! killed (exit 137), a simulated power cut drops the kernel state, `activate` finishes
//! the interrupted change, and re-applying the file (or the command) converges.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::{root, Sim};

const MIRROR_FACTS: &str = "examples/kvm-guest-mirror.facts.json";

impl Sim {
    fn status_of_data(&self) -> Value {
        self.json(&["status", "data", "--json"])
    }

    /// The example with vol1 grown to `size`.
    fn grown(&self, size: &str) -> String {
        let text = std::fs::read_to_string(root().join("examples/kvm-guest-mirror.yaml")).unwrap();
        let p = self.dir.join("grown.yaml");
        std::fs::write(&p, text.replace("size: 1GiB", &format!("size: {size}"))).unwrap();
        p.display().to_string()
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
    let sim = Sim::new("grow", MIRROR_FACTS);
    sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    let grown = sim.grown("2GiB");
    let point = "before:resume:dmclass-data-vol1";
    let o = sim.run_fp(&["apply", &grown, "--yes"], Some(point));
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains(point));
    // The intent is on disk; status shows it; planning refuses until activate.
    let st = sim.status_of_data();
    assert!(
        st["classes"][0]["pending_intent"]
            .as_str()
            .unwrap()
            .contains("grow vol1"),
        "{st}"
    );
    assert_eq!(st["classes"][0]["closed"], false);
    let o = sim.run_fp(&["plan", &grown], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted apply"));
    sim.power_cut();
    let o = sim.run_fp(&["activate", "--all"], None);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("interrupted apply"), "{err}");
    let st = sim.status_of_data();
    assert!(st["classes"][0]["pending_intent"].is_null(), "{st}");
    assert_eq!(vol1(&st)["state"], "ACTIVE");
    assert_eq!(vol1(&st)["size"], 2u64 << 30);
    let out = sim.ok(&["apply", &grown, "--yes"]);
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn every_action_of_a_grow_can_be_killed_and_recovered() {
    let probe = Sim::new("each", MIRROR_FACTS);
    probe.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    let grown = probe.grown("1536MiB");
    let plan: Value = serde_json::from_str(&probe.ok(&["plan", &grown, "--json"])).unwrap();
    let n = plan["classes"][0]["actions"].as_array().unwrap().len();
    assert!(n >= 6, "{plan}");
    drop(probe);
    for k in 1..=n {
        let sim = Sim::new(&format!("each{k}"), MIRROR_FACTS);
        sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
        let grown = sim.grown("1536MiB");
        let o = sim.run_fp(&["apply", &grown, "--yes"], Some(&format!("action:{k}")));
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
        let st = sim.status_of_data();
        assert!(
            st["classes"][0]["pending_intent"].is_null(),
            "action:{k}: {st}"
        );
        assert_eq!(vol1(&st)["state"], "ACTIVE", "action:{k}");
        let out = sim.ok(&["apply", &grown, "--yes"]);
        assert!(out.contains("nothing to do"), "action:{k}: {out}");
        assert_eq!(
            vol1(&sim.status_of_data())["size"],
            1536u64 << 20,
            "action:{k}"
        );
    }
}

#[test]
fn a_malformed_failpoint_is_refused_before_anything_is_written() {
    let sim = Sim::new("bad", MIRROR_FACTS);
    let o = sim.run_fp(
        &["apply", "examples/kvm-guest-mirror.yaml", "--yes"],
        Some("sideways:1"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("failpoint"));
    let st = sim.run_fp(&["status", "--json"], None);
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(v["classes"].as_array().unwrap().is_empty(), "{v}");
}

fn proxy_state(sim: &Sim) -> (Value, Value) {
    let st = sim.status_of_data();
    let p = &st["classes"][0]["proxies"][0];
    (
        p["state"].clone(),
        st["classes"][0]["pending_intent"].clone(),
    )
}

#[test]
fn every_action_of_a_proxy_part_can_be_killed_and_recovered() {
    let mut k = 1;
    let mut with_intent = 0;
    loop {
        let sim = Sim::new(&format!("part{k}"), "examples/kvm-guest-proxy.facts.json");
        let base = sim.proxy_base();
        sim.ok(&["apply", &base, "--yes"]);
        sim.ok(&["proxy", "join", "data/vol1", "copy", "--on", "g2"]);
        let point = format!("action:{k}");
        let o = sim.run_fp(&["proxy", "part", "data/copy", "--readonly"], Some(&point));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        if o.status.success() {
            // past the last action: the failpoint never fired
            eprintln!("proxy part: {} action(s), each killed and recovered", k - 1);
            assert_eq!(
                with_intent,
                k - 2,
                "the intent is on disk after all but the last"
            );
            assert!(k > 3, "a part takes more than {} action(s): {err}", k - 1);
            assert_eq!(proxy_state(&sim).0, "PARTED");
            break;
        }
        assert_eq!(o.status.code(), Some(137), "{point}: {err}");
        assert!(err.contains(&point), "{point}: {err}");
        let (_, intent) = proxy_state(&sim);
        // the first action writes the intent, the last clears it
        assert!(
            intent.is_null()
                || intent
                    .as_str()
                    .is_some_and(|i| i.starts_with("proxy-part copy")),
            "{point}: intent {intent}"
        );
        with_intent += usize::from(!intent.is_null());
        if k % 2 == 1 {
            sim.power_cut();
        }
        sim.ok(&["activate", "data"]);
        let (state, intent) = proxy_state(&sim);
        assert!(intent.is_null(), "{point}: intent left: {intent}");
        assert!(
            state == "PARTED" || state == "JOINED",
            "{point}: proxy state {state}"
        );
        if state == "JOINED" {
            sim.ok(&["proxy", "part", "data/copy", "--readonly"]);
        }
        let st = sim.status_of_data();
        let p = &st["classes"][0]["proxies"][0];
        assert_eq!(
            (p["state"].as_str(), p["rejoin"].as_str()),
            (Some("PARTED"), Some("incremental")),
            "{point}: {st}"
        );
        // the parted proxy is a device of its own; the master runs without its leg
        let vols = st["classes"][0]["volumes"].as_array().unwrap();
        let master = vols.iter().find(|v| v["name"] == "vol1").unwrap();
        assert_eq!(master["state"], "ACTIVE", "{point}: {st}");
        sim.ok(&["proxy", "rejoin", "data/copy"]);
        assert_eq!(proxy_state(&sim).0, "JOINED", "{point}");
        k += 1;
        assert!(k < 40, "the failpoint never stopped firing");
    }
}

/// For k = 1, 2, ...: a fresh machine prepared by `setup`, `args` killed at `action:k`
/// (power cut on odd k), then `dmclass activate data` must succeed with no intent
/// left and `check` must pass; ends when `args` runs to completion (k past the plan).
/// While killed (before activate), the intent names `op`. Returns the number of
/// actions.
fn kill_every_action(
    tag: &str,
    facts: &str,
    setup: &dyn Fn(&Sim),
    args: &[&str],
    op: &str,
    check: &dyn Fn(&Sim, &str),
) -> usize {
    let (mut with_intent, mut without) = (0, 0);
    for k in 1..60 {
        let sim = Sim::new(&format!("{tag}{k}"), facts);
        setup(&sim);
        let point = format!("action:{k}");
        let o = sim.run_fp(args, Some(&point));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        if o.status.success() {
            check(&sim, "completed");
            assert!(
                with_intent > 0 && with_intent + without == k - 1,
                "{tag}: {with_intent} stop(s) with the intent on disk, {without} without"
            );
            return k - 1;
        }
        assert_eq!(o.status.code(), Some(137), "{tag} {point}: {err}");
        let st = sim.status_of_data();
        // before the intent write (zeroing free space) and after the write clearing
        // it there is none
        match st["classes"][0]["pending_intent"].as_str() {
            Some(i) => {
                assert!(i.starts_with(op), "{tag} {point}: intent {i:?}");
                with_intent += 1;
            }
            None => without += 1,
        }
        if k % 2 == 1 {
            sim.power_cut();
        }
        let a = sim.run_fp(&["activate", "data"], None);
        assert!(
            a.status.success(),
            "{tag} {point}: activate: {}",
            String::from_utf8_lossy(&a.stderr)
        );
        let st = sim.status_of_data();
        assert!(
            st["classes"][0]["pending_intent"].is_null(),
            "{tag} {point}: {st}"
        );
        check(&sim, &point);
    }
    panic!("{tag}: the failpoints never stopped firing");
}

#[test]
fn a_declarative_part_killed_at_every_action_is_finished_by_activate() {
    // The example joins its proxy; the declarative part is the same file saying parted.
    let y = std::fs::read_to_string(root().join("examples/kvm-guest-proxy.yaml")).unwrap();
    let parted = std::env::temp_dir().join(format!("dmclass-parted-{}.yaml", std::process::id()));
    std::fs::write(&parted, y.replace("state: joined", "state: parted")).unwrap();
    let parted = parted.to_str().unwrap();
    let setup = |sim: &Sim| {
        sim.ok(&["apply", "examples/kvm-guest-proxy.yaml", "--yes"]);
    };
    let n = kill_every_action(
        "dpart",
        "examples/kvm-guest-proxy.facts.json",
        &setup,
        &["apply", parted, "--yes"],
        "proxy-part vol1-copy",
        &|sim, point| {
            let out = sim.ok(&["apply", parted, "--yes"]);
            assert!(out.contains("nothing to do"), "{point}: {out}");
            let st = sim.status_of_data();
            assert_eq!(st["classes"][0]["proxies"][0]["state"], "PARTED", "{point}");
        },
    );
    assert!(n >= 4, "{n} actions");
}

#[test]
fn a_snapshot_create_and_remove_killed_at_every_action_are_finished_by_activate() {
    let snaps = |sim: &Sim| {
        sim.status_of_data()["classes"][0]["snapshots"]
            .as_array()
            .unwrap()
            .len()
    };
    let n = kill_every_action(
        "snap",
        MIRROR_FACTS,
        &|sim| {
            sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
        },
        &["snapshot", "create", "data/vol1", "s1", "--size", "8MiB"],
        "snapshot s1",
        &|sim, point| {
            // stopped before the intent write: nothing recorded, creating works; after
            // it: rolled forward, the snapshot exists and works (it can be removed)
            match snaps(sim) {
                0 => {
                    sim.ok(&["snapshot", "create", "data/vol1", "s1", "--size", "8MiB"]);
                }
                n => assert_eq!(n, 1, "{point}"),
            }
            sim.ok(&["snapshot", "remove", "data/s1", "--yes"]);
            assert_eq!(snaps(sim), 0, "{point}");
        },
    );
    assert!(n >= 4, "{n} actions");
    let n = kill_every_action(
        "unsnap",
        MIRROR_FACTS,
        &|sim| {
            sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
            sim.ok(&["snapshot", "create", "data/vol1", "s1", "--size", "8MiB"]);
        },
        &["snapshot", "remove", "data/s1", "--yes"],
        "remove-snapshot s1",
        &|sim, point| {
            // rolled back (the snapshot is whole again; removing works) or done
            if snaps(sim) == 1 {
                sim.ok(&["snapshot", "remove", "data/s1", "--yes"]);
            }
            assert_eq!(snaps(sim), 0, "{point}");
            let out = sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
            assert!(out.contains("nothing to do"), "{point}: {out}");
        },
    );
    assert!(n >= 2, "{n} actions");
}

#[test]
fn a_read_write_rejoin_killed_at_every_action_is_finished_by_activate() {
    // The proxy is parted read-write (tracked): its rejoin copies the proxy's changed
    // regions between two metadata writes; stopped anywhere, activate finishes it.
    let setup = |sim: &Sim| {
        let base = sim.proxy_base();
        sim.ok(&["apply", &base, "--yes"]);
        sim.ok(&["proxy", "join", "data/vol1", "vol1-copy", "--on", "g2"]);
        sim.ok(&["proxy", "part", "data/vol1-copy"]);
    };
    let n = kill_every_action(
        "rwrejoin",
        "examples/kvm-guest-proxy.facts.json",
        &setup,
        &["proxy", "rejoin", "data/vol1-copy"],
        "proxy-rejoin vol1-copy",
        &|sim, point| {
            let st = sim.status_of_data();
            assert_eq!(
                st["classes"][0]["proxies"][0]["state"], "JOINED",
                "{point}: {st}"
            );
        },
    );
    assert!(n >= 4, "{n} actions");
}

#[test]
fn a_restore_killed_at_every_action_is_finished_by_activate() {
    // An incremental restore records the master's legs COPY before its copy_regions,
    // so one stopped anywhere is finished by activate (a full rebuild from the proxy
    // while they are COPY; slot N's bitmap recovery once they are ACTIVE).
    let setup = |sim: &Sim| {
        let base = sim.proxy_base();
        sim.ok(&["apply", &base, "--yes"]);
        sim.ok(&["proxy", "join", "data/vol1", "vol1-copy", "--on", "g2"]);
        sim.ok(&["proxy", "part", "data/vol1-copy"]);
    };
    let n = kill_every_action(
        "restore",
        "examples/kvm-guest-proxy.facts.json",
        &setup,
        &["proxy", "restore", "data/vol1-copy", "--yes"],
        "proxy-restore vol1-copy",
        &|sim, point| {
            let st = sim.status_of_data();
            assert_eq!(
                st["classes"][0]["proxies"][0]["state"], "JOINED",
                "{point}: {st}"
            );
        },
    );
    assert!(n >= 4, "{n} actions");
}
