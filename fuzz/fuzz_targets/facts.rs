//! Fuzz the `--facts` document: JSON → [`Facts`], then the support-matrix gate.
//!
//! Any bytes must load or be refused, never panic; loaded facts must serialize back to
//! the same value (`probe --json` writes what `--facts` reads), and gating the example
//! configurations against them must not panic (that is what `check --facts` does).
#![no_main]

use dmclass_model::{parse, Config};
use dmclass_rules::{gate, Facts};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Configurations to gate: examples covering every class type and layout (parsed once).
fn configs() -> &'static [Config] {
    static C: OnceLock<Vec<Config>> = OnceLock::new();
    C.get_or_init(|| {
        [
            include_str!("../../examples/bare-metal.yaml"),
            include_str!("../../examples/kvm-guest-mirror.yaml"),
            include_str!("../../examples/kvm-guest-proxy.yaml"),
            include_str!("../../examples/kvm-guest-cow-snapshot.yaml"),
            include_str!("../../examples/kvm-guest-shared.yaml"),
            include_str!("../../examples/vmware-guest-root.yaml"),
        ]
        .iter()
        .map(|t| parse("example.yaml", t).expect("example parses"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(facts) = serde_json::from_slice::<Facts>(data) else {
        return;
    };
    let json = serde_json::to_string(&facts).expect("facts serialize");
    let again: Facts = serde_json::from_str(&json).expect("serialized facts load");
    assert_eq!(again, facts, "round trip changed the facts: {json}");
    for config in configs() {
        let _ = gate(config, &facts).to_string();
    }
});
