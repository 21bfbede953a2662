//! Every command's `--json` document carries `"schema": "dmclass-<name>/<version>"`
//! first and validates against `docs/schemas/dmclass-<name>-<version>.json`, in the
//! states a script meets: empty machine, planned, applied, refused. (`monitor --json`
//! lines are checked in sim_monitor.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::{assert_schema, Sim};

const FACTS: &str = "examples/kvm-guest-mirror.facts.json";
const YAML: &str = "examples/kvm-guest-mirror.yaml";

/// Runs `dmclass args` (any exit status) and parses stdout as one JSON document.
fn doc(sim: &Sim, args: &[&str]) -> Value {
    let o = sim.run(args);
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
}

#[test]
fn every_document_names_its_schema_first_and_matches_it() {
    let sim = Sim::new("schemas", FACTS);
    for args in [
        &["status", "--json"][..],
        &["rules", "--json"],
        &["probe", "--json"],
        &["check", YAML, "--json"],
        &["plan", YAML, "--json"],
    ] {
        let o = sim.run(args);
        let text = String::from_utf8_lossy(&o.stdout);
        // The first key, as printed (a reader may stream).
        assert!(
            text.trim_start().starts_with("{\n  \"schema\": \"dmclass-"),
            "{args:?}: {text}"
        );
        assert_schema(&doc(&sim, args));
    }
    sim.ok(&["apply", YAML, "--yes"]);
    for args in [&["status", "--json"][..], &["plan", YAML, "--json"]] {
        assert_schema(&doc(&sim, args));
    }
    sim.ok(&["snapshot", "create", "data/vol1", "s1", "--size", "64MiB"]);
    let st = doc(&sim, &["status", "--json"]);
    assert!(
        !st["classes"][0]["snapshots"].as_array().unwrap().is_empty(),
        "{st}"
    );
    assert_schema(&st);
}

#[test]
fn error_documents_match_their_schema_too() {
    let sim = Sim::new("schemas-err", FACTS);
    let broken = support::root().join("crates/dmclass-model/tests/broken/partition.yaml");
    let broken = broken.to_str().unwrap();
    for args in [
        &["check", broken, "--json"][..],
        &["plan", broken, "--json"],
    ] {
        let d = doc(&sim, args);
        assert_eq!(d["ok"], false, "{d}");
        assert!(!d["errors"].as_array().unwrap().is_empty(), "{d}");
        assert_schema(&d);
    }
}

#[test]
fn a_document_missing_a_contract_field_fails_its_schema() {
    // The schemas are not vacuous: status without a volume's sync_percent is refused.
    let sim = Sim::new("schemas-neg", FACTS);
    sim.ok(&["apply", YAML, "--yes"]);
    let mut st = doc(&sim, &["status", "--json"]);
    st["classes"][0]["volumes"][0]
        .as_object_mut()
        .unwrap()
        .remove("sync_percent");
    let r = std::panic::catch_unwind(|| assert_schema(&st));
    assert!(
        r.is_err(),
        "a status without sync_percent passed its schema"
    );
}
