//! The systemd units in `udev-rules/`: the settings the docs promise, commands the
//! binary accepts, and — where `systemd-analyze` is installed — `systemd-analyze
//! verify` with the binary under test in place of `/usr/sbin/dmclass`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use std::path::PathBuf;
use std::process::Command;

fn unit(name: &str) -> String {
    std::fs::read_to_string(support::root().join("udev-rules").join(name))
        .unwrap_or_else(|e| panic!("udev-rules/{name}: {e}"))
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l.trim() == line)
}

#[test]
fn monitor_unit_is_notify_with_watchdog_and_restart() {
    let u = unit("dmclass-monitor.service");
    for l in [
        "Type=notify",
        "Restart=on-failure",
        "WatchdogSec=180s",
        "ExecStart=/usr/sbin/dmclass monitor",
    ] {
        assert!(has(&u, l), "dmclass-monitor.service lacks `{l}`");
    }
}

#[test]
fn activation_units_run_before_local_file_systems() {
    for name in ["dmclass-activate.service", "dmclass-activate@.service"] {
        let u = unit(name);
        assert!(has(&u, "DefaultDependencies=no"), "{name}");
        assert!(
            u.lines()
                .any(|l| l.starts_with("Before=") && l.contains("local-fs-pre.target")),
            "{name}"
        );
    }
    assert!(has(
        &unit("dmclass-activate.service"),
        "After=systemd-udev-settle.service systemd-udev-trigger.service"
    ));
}

/// Every ExecStart= is a command line the binary accepts (`--help` after it:
/// clap checks the subcommand and options, and exits 0 without running it).
#[test]
fn exec_start_lines_parse() {
    for name in [
        "dmclass-monitor.service",
        "dmclass-activate.service",
        "dmclass-activate@.service",
    ] {
        for l in unit(name).lines() {
            let Some(cmd) = l.strip_prefix("ExecStart=/usr/sbin/dmclass ") else {
                continue;
            };
            let args: Vec<&str> = cmd
                .split_whitespace()
                .map(|a| if a == "%i" { "data" } else { a })
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_dmclass"))
                .args(&args)
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: `dmclass {cmd}` does not parse"
            );
        }
    }
}

#[test]
fn systemd_analyze_verify() {
    let Ok(found) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not installed: units not verified");
        return;
    };
    if !found.status.success() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("dmclass-units-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_dmclass");
    let mut paths: Vec<PathBuf> = Vec::new();
    for name in [
        "dmclass-monitor.service",
        "dmclass-activate.service",
        "dmclass-activate@.service",
    ] {
        let p = dir.join(name);
        std::fs::write(&p, unit(name).replace("/usr/sbin/dmclass", bin)).unwrap();
        paths.push(if name.ends_with("@.service") {
            dir.join("dmclass-activate@data.service")
        } else {
            p
        });
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
