//! The Debian package's definition (docs/packaging.md) without building it (`make deb`
//! builds it and runs lintian): every asset the package names exists or is generated
//! by dmclass-doc, every systemd unit it installs is in `udev-rules/`, and the
//! maintainer scripts are valid shell that never touch a disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> String {
    std::fs::read_to_string(crate_dir().join("Cargo.toml")).unwrap()
}

/// The `[package.metadata.deb]` table's text.
fn deb_section(m: &str) -> &str {
    let start = m
        .find("[package.metadata.deb]")
        .expect("no [package.metadata.deb]");
    &m[start..]
}

/// Source paths of the `assets` entries (the first string of each `[...]` line).
fn asset_sources(deb: &str) -> Vec<String> {
    let block = &deb[deb.find("assets = [").unwrap()..];
    let block = &block[..block.find("\n]").unwrap()];
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[\""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_asset_exists_or_is_generated() {
    let m = manifest();
    let sources = asset_sources(deb_section(&m));
    assert!(sources.len() >= 10, "{sources:?}");
    for s in &sources {
        if s.starts_with("target/release/") || s.contains("target/generated/") {
            continue; // built by cargo deb / dmclass-doc (scripts/deb)
        }
        let p = crate_dir().join(s);
        let dir = p.parent().unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let found = if let Some(ext) = name.strip_prefix('*') {
            std::fs::read_dir(dir)
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(ext))
        } else {
            p.is_file()
        };
        assert!(found, "asset {s} ({}) does not exist", p.display());
    }
    // What dmclass-doc generates is what the package names.
    for want in [
        "man/*.8",
        "man/*.5",
        "completions/dmclass.bash",
        "completions/_dmclass",
        "completions/dmclass.fish",
    ] {
        assert!(
            sources
                .iter()
                .any(|s| s.ends_with(&format!("target/generated/{want}"))),
            "{want} not packaged"
        );
    }
}

#[test]
fn every_unit_is_in_udev_rules_and_only_the_template_is_not_enabled() {
    let m = manifest();
    let deb = deb_section(&m);
    let units: Vec<&str> = deb
        .lines()
        .filter(|l| l.contains("unit-name = \""))
        .collect();
    let mut names = Vec::new();
    for l in &units {
        let name = l
            .split("unit-name = \"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let file = crate_dir().join(format!("../../udev-rules/{name}.service"));
        assert!(file.is_file(), "unit {name}: {} missing", file.display());
        let enabled = l.contains("enable = true");
        assert_eq!(enabled, !name.ends_with('@'), "{l}");
        names.push(name);
    }
    let mut shipped: Vec<String> = std::fs::read_dir(crate_dir().join("../../udev-rules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".service"))
        .map(|n| n.trim_end_matches(".service").to_string())
        .collect();
    shipped.sort();
    let mut names: Vec<String> = names.into_iter().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, shipped, "every unit in udev-rules/ is packaged");
}

fn script(name: &str) -> (PathBuf, String) {
    let p = crate_dir().join("../../packaging/debian").join(name);
    let text = std::fs::read_to_string(&p).unwrap();
    (p, text)
}

#[test]
fn maintainer_scripts_are_valid_shell_and_never_touch_a_disk() {
    for name in ["postinst", "postrm"] {
        let (p, text) = script(name);
        assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        assert!(
            text.contains("#DEBHELPER#"),
            "{name}: cargo-deb inserts the unit snippets there"
        );
        let st = std::process::Command::new("sh")
            .arg("-n")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "{name}: sh -n");
        // Commands of the scripts (comments left out).
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("/dev/null", "");
        for bad in [
            "dmclass ",
            "dmsetup",
            "dd ",
            "wipefs",
            "mkfs",
            "sgdisk",
            "blkdiscard",
            "/dev/",
        ] {
            assert!(
                !code.contains(bad),
                "{name} runs `{bad}`: no maintainer script touches a disk"
            );
        }
    }
    let (_, triggers) = script("triggers");
    assert!(triggers
        .lines()
        .any(|l| l == "activate-noawait update-initramfs"));
}

#[test]
fn every_lintian_override_has_a_reason() {
    let (_, text) = script("lintian-overrides");
    let mut reason = false;
    for l in text.lines() {
        if l.starts_with('#') {
            reason = true;
        } else if l.trim().is_empty() {
            reason = false;
        } else {
            assert!(l.starts_with("dmclass: "), "{l}");
            assert!(reason, "override without a comment above it: {l}");
        }
    }
    assert!(Path::new(&crate_dir().join("../../packaging/debian/changelog")).is_file());
}

/// The ESP hook runs after every kernel install/removal and initramfs update, after the
/// boot loaders' own hooks (zz-systemd-boot, zz-update-grub), and never fails the
/// package operation: a dmclass that fails still leaves exit status 0.
#[test]
fn the_esp_hook_runs_after_kernel_and_initramfs_updates_and_never_fails_them() {
    let deb = manifest();
    for dest in [
        "etc/kernel/postinst.d/zzz-dmclass",
        "etc/kernel/postrm.d/zzz-dmclass",
        "etc/initramfs/post-update.d/zz-dmclass",
    ] {
        assert!(
            deb.contains(&format!(
                "[\"../../esp-hooks/dmclass-esp-sync\", \"{dest}\", \"755\"]"
            )),
            "{dest}"
        );
    }
    assert!("zzz-dmclass" > "zz-systemd-boot" && "zzz-dmclass" > "zz-update-grub");
    let hook = crate_dir().join("../../esp-hooks/dmclass-esp-sync");
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"));
    assert!(std::process::Command::new("sh")
        .arg("-n")
        .arg(&hook)
        .status()
        .unwrap()
        .success());
    // A dmclass that fails: the hook warns and exits 0. Run with a fake dmclass by
    // rewriting the path (the hook calls /usr/sbin/dmclass only).
    let dir = std::env::temp_dir().join(format!("dmclass-hook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("dmclass");
    std::fs::write(&fake, "#!/bin/sh\necho \"fake: $*\" >&2\nexit 1\n").unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let patched = dir.join("hook");
    std::fs::write(
        &patched,
        text.replace(
            "DMCLASS=/usr/sbin/dmclass",
            &format!("DMCLASS={}", fake.display()),
        ),
    )
    .unwrap();
    let out = std::process::Command::new("sh")
        .arg(&patched)
        .args(["6.1.0-test", "/boot/vmlinuz-6.1.0-test"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("fake: --quiet esp sync"), "{err}");
    assert!(
        err.contains("WARNING") && err.contains("dmclass esp sync"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
