//! Golden plans: `plan --tables` and `plan --json` of every example, recorded in
//! `tests/golden/` and compared byte for byte (after random ids are numbered in order of
//! appearance). A change to the planner's output shows here as a diff; a reshaping of
//! the code must leave these files untouched. `DMCLASS_BLESS=1` rewrites them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// Replaces every run of 32 or more hex digits and dashes (uuids, dm uuids, stable
/// ids: random per run) with `<idN>`, numbered by first appearance.
fn normalize(text: &str) -> String {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '-' {
            out.push('-');
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_hexdigit() || chars[j] == '-') {
            j += 1;
        }
        while j > i + 1 && chars[j - 1] == '-' {
            j -= 1;
        }
        let run: String = chars[i..j].iter().collect();
        let hex = run.chars().filter(char::is_ascii_hexdigit).count();
        if hex >= 32 {
            let n = ids.len();
            let id = *ids.entry(run).or_insert(n);
            let _ = write!(out, "<id{id}>");
            i = j;
        } else if j > i {
            out.push_str(&run);
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn plan(yaml: &Path, extra: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dmclass"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env_remove("DMCLASS_SIM")
        .arg("plan")
        .arg(format!(
            "examples/{}",
            yaml.file_name().unwrap().to_string_lossy()
        ))
        .arg("--facts")
        .arg(format!(
            "examples/{}",
            yaml.with_extension("facts.json")
                .file_name()
                .unwrap()
                .to_string_lossy()
        ))
        .arg(extra)
        .output()
        .expect("run dmclass");
    normalize(&format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[test]
fn normalize_numbers_ids_in_order() {
    let a = "ba3c6c3c-0a24-46a1-8a3c-79b239f94a03";
    let b = "ba3c6c3c0a2446a18a3c79b239f94a034883bdc8b04745ecb7e619add57a9465";
    let s = format!("x {a} y DMCLASS-{b}-rmeta_0 {a} deadbeef");
    assert_eq!(
        normalize(&s),
        "x <id0> y DMCLASS-<id1>-rmeta_0 <id0> deadbeef"
    );
}

#[test]
fn plans_of_every_example_match_the_golden_files() {
    let bless = std::env::var_os("DMCLASS_BLESS").is_some();
    let mut diffs = Vec::new();
    for y in examples() {
        let stem = y.file_stem().unwrap().to_string_lossy().to_string();
        for (suffix, flag) in [("tables.txt", "--tables"), ("json", "--json")] {
            let got = plan(&y, flag);
            let path = golden_dir().join(format!("{stem}.{suffix}"));
            if bless {
                std::fs::create_dir_all(golden_dir()).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (DMCLASS_BLESS=1 records it)", path.display()));
            if want != got {
                diffs.push(format!("{}:\n{got}", path.display()));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "plans differ from the golden files:\n{}",
        diffs.join("\n")
    );
}
