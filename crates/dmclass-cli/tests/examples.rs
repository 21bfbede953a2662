//! Every example checks as its header says: supported rows pass against their facts,
//! `denied-*` files are refused with the reason their `# expect:` line names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn check(yaml: &Path) -> std::process::Output {
    let facts = yaml.with_extension("facts.json");
    Command::new(env!("CARGO_BIN_EXE_dmclass"))
        .arg("check")
        .arg(yaml)
        .arg("--facts")
        .arg(&facts)
        .output()
        .expect("run dmclass")
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_has_facts() {
    let all = examples();
    assert!(all.len() >= 10, "expected the example set, found {all:?}");
    for y in all {
        assert!(
            y.with_extension("facts.json").exists(),
            "{} has no facts file",
            y.display()
        );
    }
}

#[test]
fn supported_examples_pass_check() {
    for y in examples() {
        let name = y.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("denied-") {
            continue;
        }
        let out = check(&y);
        assert!(
            out.status.success(),
            "{name} should pass:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn denied_examples_fail_with_their_reason() {
    let mut seen = 0;
    for y in examples() {
        let name = y.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("denied-") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&y).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name} lacks an `# expect:` line"));
        let out = check(&y);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name} must be refused; stderr: {stderr}"
        );
        assert!(
            stderr.contains(expect),
            "{name}: stderr should mention `{expect}`:\n{stderr}"
        );
    }
    assert!(seen >= 4);
}
