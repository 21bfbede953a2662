//! The command-line contract: exit statuses, error positions, JSON shapes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use std::path::Path;
use std::process::{Command, Output};

fn dmclass(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmclass"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("run dmclass")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dmclass-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(dmclass(&[]).status.code(), Some(2));
    assert_eq!(dmclass(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(dmclass(&["check"]).status.code(), Some(2));
    assert_eq!(
        dmclass(&["check", "x.yaml", "--env", "mainframe"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn help_documents_exit_status() {
    let o = dmclass(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Exit status"), "{text}");
    for cmd in ["probe", "rules", "check"] {
        assert!(text.contains(cmd), "help lacks {cmd}");
    }
}

#[test]
fn malformed_config_names_file_line_column_and_exits_1() {
    let p = tmp_file(
        "bad.yaml",
        "version: 1\nclasses:\n  - name: data\n    type: local\n    colour: blue\n",
    );
    let o = dmclass(&[
        "check",
        p.to_str().unwrap(),
        "--facts",
        "examples/kvm-guest-mirror.facts.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&format!("{}:5:5:", p.display())), "{e}");
    assert!(e.contains("colour"), "{e}");
    assert!(e.contains("nothing was touched"), "{e}");
}

#[test]
fn missing_files_are_refusals_not_usage_errors() {
    let o = dmclass(&["check", "/nonexistent/c.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/c.yaml"));
    let o = dmclass(&[
        "check",
        "examples/kvm-guest-mirror.yaml",
        "--facts",
        "/nonexistent/f.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let bad = tmp_file("facts.json", "{\"format\": 1}");
    let o = dmclass(&[
        "check",
        "examples/kvm-guest-mirror.yaml",
        "--facts",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a facts document"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn denial_cites_file_position_and_row() {
    let o = dmclass(&[
        "check",
        "examples/denied-vmware-root-bios.yaml",
        "--facts",
        "examples/denied-vmware-root-bios.facts.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("examples/denied-vmware-root-bios.yaml:"), "{e}");
    assert!(e.contains("G3") && e.contains("UEFI"), "{e}");
}

#[test]
fn env_override_changes_the_verdict() {
    // The KVM-guest example asserts kvm-guest; claiming a VMware guest must be refused.
    let o = dmclass(&[
        "check",
        "examples/kvm-guest-cow-snapshot.yaml",
        "--facts",
        "examples/kvm-guest-cow-snapshot.facts.json",
        "--env",
        "other-guest",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn check_json_is_machine_readable() {
    let o = dmclass(&[
        "check",
        "examples/kvm-guest-mirror.yaml",
        "--facts",
        "examples/kvm-guest-mirror.facts.json",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["environment"], "kvm-guest");
    assert!(v["report"]["denials"].as_array().unwrap().is_empty());
}

#[test]
fn rules_json_lists_every_matrix_row() {
    let o = dmclass(&["rules", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in [
        "G1", "G2", "G3", "G4", "G5", "S1", "S2", "S3a", "S3b", "S4", "S5a", "S5b", "S6", "BM",
    ] {
        assert!(ids.contains(&id), "rules --json lacks {id}: {ids:?}");
    }
    let text = dmclass(&["rules"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("G3"));
}

#[test]
fn plan_with_facts_touches_no_device_and_shows_tables() {
    let o = dmclass(&[
        "plan",
        "examples/kvm-guest-mirror.yaml",
        "--facts",
        "examples/kvm-guest-mirror.facts.json",
        "--tables",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("assumed blank"), "{out}");
    assert!(out.contains("raid raid1"), "{out}");
    assert!(out.contains("mirror disk"), "{out}");
    let o = dmclass(&[
        "plan",
        "examples/kvm-guest-mirror.yaml",
        "--facts",
        "examples/kvm-guest-mirror.facts.json",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let actions = v["classes"][0]["actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a["kind"] == "format_area"));
    assert!(actions.iter().any(|a| a["kind"] == "create"));
}

#[test]
fn oversized_and_endless_inputs_are_refused_naming_file_and_cap() {
    let facts = "examples/bare-metal.facts.json";
    // A 2 MiB YAML file: a comment line repeated, valid YAML but over the 1 MiB cap.
    let big = tmp_file("big.yaml", &"# padding\n".repeat(200_000));
    let big = big.to_str().unwrap();
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["check", "/dev/zero", "--facts", facts],
            "/dev/zero",
            "1 MiB",
        ),
        (
            &["check", "examples/bare-metal.yaml", "--facts", "/dev/zero"],
            "/dev/zero",
            "16 MiB",
        ),
        (
            &["plan", "examples/bare-metal.yaml", "--facts", "/dev/zero"],
            "/dev/zero",
            "16 MiB",
        ),
        (&["check", big, "--facts", facts], big, "1 MiB"),
    ];
    for (args, file, cap) in cases {
        let t = std::time::Instant::now();
        let o = dmclass(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(file) && err.contains(cap), "{args:?}: {err}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{args:?} took {:?}",
            t.elapsed()
        );
    }
}

/// Every bad command line exits 2, and a bad value is reported against its argument
/// (never at a made-up position of a configuration).
#[test]
fn every_usage_error_exits_2_naming_the_argument() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["snapshot", "create", "data/vol1", "s", "--size", "1.5GiB"],
            "--size",
        ),
        (
            &["snapshot", "create", "data/vol1", "s", "--size", "0"],
            "--size",
        ),
        (
            &["snapshot", "create", "data/vol1", "s", "--size", "100B"],
            "--size",
        ),
        (
            &["snapshot", "create", "vol1", "x", "--size", "1GiB"],
            "CLASS/VOLUME",
        ),
        (
            &[
                "snapshot",
                "create",
                "data/vol1",
                "bad name",
                "--size",
                "1GiB",
            ],
            "NAME",
        ),
        (
            &[
                "snapshot",
                "create",
                "data/vol1",
                "s",
                "--size",
                "1GiB",
                "--chunk",
                "3KiB",
            ],
            "--chunk",
        ),
        (&["snapshot", "create", "data/vol1", "s"], "--size"),
        (&["snapshot", "merge", "snap1"], "CLASS/NAME"),
        (&["snapshot", "remove", "data/"], "CLASS/NAME"),
        (&["snapshot", "remove", "data/a/b"], "CLASS/NAME"),
        (&["tune", "data/vol1", "--copy-rate", "fast"], "--copy-rate"),
        (&["tune", "data/vol1", "--copy-rate", "0"], "--copy-rate"),
        (&["tune", "vol1", "--copy-rate", "50MiB"], "CLASS/VOLUME"),
        (&["tune", "data/vol1"], "--copy-rate"),
        (
            &["proxy", "join", "vol1", "p", "--on", "g2"],
            "CLASS/MASTER",
        ),
        (
            &["proxy", "join", "data/vol1", "p", "--on", "bad/group"],
            "--on",
        ),
        (&["proxy", "join", "data/vol1", "p"], "--on"),
        (&["proxy", "part", "p"], "CLASS/NAME"),
        (&["proxy", "rejoin", "/p"], "CLASS/NAME"),
        (&["proxy", "restore", "data"], "CLASS/NAME"),
        (&["proxy", "break", "data/-p"], "CLASS/NAME"),
        (&["check", "x.yaml", "--env", "mainframe"], "--env"),
        (&["plan"], "FILE"),
        (&["apply", "x.yaml", "--bogus"], "--bogus"),
        (&["activate"], "--all"),
        (&["activate", "--force"], "CLASSES"),
        (&["activate", "--all", "--force", "data"], "--force"),
        (&["activate", "--yes", "data"], "--force"),
        (&["deactivate"], "CLASSES"),
        (&["status", "a", "b"], "b"),
    ];
    for (args, named) in cases {
        let o = dmclass(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?} should name {named}: {err}");
        assert!(
            !err.contains("snapshot:"),
            "{args:?}: made-up position: {err}"
        );
    }
}
