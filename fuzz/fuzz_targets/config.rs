//! Fuzz the YAML configuration parser and what uses its result.
//!
//! Any text must parse or give located diagnostics, never panic. What parses must also
//! pass `validate` (the checks for configurations built in code: parse already applied
//! them), print back to YAML that parses to the same configuration, and go through the
//! support-matrix gate (`dmclass check --facts`) against example machines.
#![no_main]

use dmclass_model::{parse, to_yaml, validate};
use dmclass_rules::{gate, Facts};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Machines to gate against: facts documents of the examples (parsed once).
fn machines() -> &'static [Facts] {
    static M: OnceLock<Vec<Facts>> = OnceLock::new();
    M.get_or_init(|| {
        [
            include_str!("../../examples/bare-metal.facts.json"),
            include_str!("../../examples/kvm-guest-mirror.facts.json"),
            include_str!("../../examples/vmware-guest-root.facts.json"),
        ]
        .iter()
        .map(|t| serde_json::from_str(t).expect("example facts parse"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse("fuzz.yaml", text) {
        Ok(config) => {
            if let Err(d) = validate("fuzz.yaml", &config) {
                panic!("parsed, but validate refuses: {d}");
            }
            let yaml = to_yaml(&config);
            let again = match parse("emitted.yaml", &yaml) {
                Ok(c) => c,
                Err(d) => panic!("emitted YAML does not parse: {d}\n{yaml}"),
            };
            assert_eq!(
                again.without_spans(),
                config.without_spans(),
                "round trip changed the configuration\n{yaml}"
            );
            for facts in machines() {
                let report = gate(&config, facts);
                // Rendering is part of `check`; it must hold for any report.
                let _ = report.to_string();
            }
        }
        Err(d) => {
            assert!(!d.0.is_empty(), "an error without a diagnostic");
            // YAML breaks lines at \n, \r\n and a lone \r.
            let breaks = text.matches('\n').count() + text.matches('\r').count();
            for diag in &d.0 {
                assert!(
                    diag.span.line >= 1 && diag.span.line as usize <= breaks + 2,
                    "diagnostic outside the text: {diag}"
                );
                assert!(diag.span.column >= 1, "column 0: {diag}");
                assert!(!diag.message.is_empty(), "empty message at {diag}");
            }
        }
    }
});
