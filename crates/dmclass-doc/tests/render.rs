//! The generated man pages render without a warning, carry EXIT STATUS and EXAMPLES,
//! say what `--help` says, and the bash completion loads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

use std::path::{Path, PathBuf};
use std::process::Command;

fn generate(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dmclass-doc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_dmclass-doc"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The page as `man` shows it (plain text), checking groff says nothing.
fn render(page: &Path) -> String {
    let out = Command::new("groff")
        .args(["-k", "-man", "-t", "-ww", "-Tutf8", "-P", "-cbou"])
        .arg(page)
        .output()
        .expect("groff (Debian groff-base, installed by scripts/deps)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty(),
        "{}: {err}",
        page.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_page_renders_with_exit_status_and_examples() {
    let dir = generate("pages");
    let cmds = [
        "probe",
        "rules",
        "check",
        "plan",
        "apply",
        "status",
        "activate",
        "deactivate",
        "export",
        "tune",
        "snapshot",
        "proxy",
        "event",
        "monitor",
    ];
    let mut pages = vec!["dmclass.8".to_owned()];
    pages.extend(cmds.iter().map(|c| format!("dmclass-{c}.8")));
    pages.extend([
        "dmclass-snapshot-create.8".into(),
        "dmclass-proxy-part.8".into(),
    ]);
    for p in &pages {
        let text = render(&dir.join("man").join(p));
        for section in ["NAME", "SYNOPSIS", "EXIT STATUS", "EXAMPLES", "SEE ALSO"] {
            assert!(text.contains(section), "{p}: no {section}:\n{text}");
        }
    }
    let top = render(&dir.join("man/dmclass.8"));
    assert!(
        top.contains("ENVIRONMENT") && top.contains("DMCLASS_SIM"),
        "{top}"
    );
    let apply = render(&dir.join("man/dmclass-apply.8"));
    assert!(apply.contains("--allow-destroy"), "{apply}");
    let yaml = render(&dir.join("man/dmclass.yaml.5"));
    for key in ["hot_spare", "copy_rate", "autostart", "members"] {
        assert!(yaml.contains(key), "dmclass.yaml(5) lacks {key}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bash_completion_loads() {
    let dir = generate("completions");
    let f = dir.join("completions/dmclass.bash");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && complete -p dmclass", f.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("dmclass"), "{text}");
    for other in ["completions/_dmclass", "completions/dmclass.fish"] {
        let body = std::fs::read_to_string(dir.join(other)).unwrap();
        assert!(
            body.contains("snapshot") && body.contains("proxy"),
            "{other}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
