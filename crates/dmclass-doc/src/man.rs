//! Man pages (clap_mangen, plus EXIT STATUS, EXAMPLES and SEE ALSO sections) and
//! completions (clap_complete).

use crate::args::Cli;
use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;
use roff::{bold, roman, Roff};
use std::io;
use std::path::{Path, PathBuf};

/// Exit statuses of every command (docs/cli.md).
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success."),
    (
        "1",
        "Refused or failed: standard error says what, why, and what was left unchanged. \
         Includes a configuration the support matrix denies, an unreadable or oversized \
         input file, a closed class, a missing confirmation and a udev timeout.",
    ),
    (
        "2",
        "Bad usage: an unknown command or option, or a malformed value.",
    ),
    (
        "137",
        "Stopped at a failpoint (DMCLASS_FAILPOINT, for crash tests only), as if killed.",
    ),
];

/// Examples per page (the page name without `dmclass-`; "" is dmclass(8)).
const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "",
        &[
            ("dmclass probe", "what this machine and its disks are"),
            (
                "dmclass check data.yaml",
                "can this configuration be applied here?",
            ),
            ("dmclass apply data.yaml", "do it (asks first)"),
            ("dmclass status --watch", "states and resync progress"),
            (
                "dmclass activate --all",
                "at boot: assemble every class from its disks",
            ),
        ],
    ),
    (
        "probe",
        &[
            (
                "dmclass probe",
                "environment, boot mode and disks, as a table",
            ),
            (
                "dmclass probe --json > facts.json",
                "the facts `check --facts` reads",
            ),
        ],
    ),
    (
        "rules",
        &[
            ("dmclass rules", "the support matrix"),
            ("dmclass rules --json", "the same for scripts"),
        ],
    ),
    (
        "check",
        &[
            ("dmclass check data.yaml", "against this machine"),
            (
                "dmclass check data.yaml --facts facts.json",
                "against another machine's facts",
            ),
        ],
    ),
    (
        "plan",
        &[
            (
                "dmclass plan data.yaml",
                "the ordered actions apply would take",
            ),
            (
                "dmclass plan data.yaml --tables",
                "with the exact device-mapper tables",
            ),
            ("dmclass plan data.yaml --json", "for scripts"),
        ],
    ),
    (
        "apply",
        &[
            (
                "dmclass apply data.yaml",
                "shows the plan, asks, then applies it",
            ),
            ("dmclass apply data.yaml --yes", "without asking (scripts)"),
            (
                "dmclass apply data.yaml --yes --allow-destroy",
                "also removes volumes the file no longer names",
            ),
        ],
    ),
    (
        "status",
        &[
            ("dmclass status", "every class, GDS style"),
            ("dmclass status data --json", "one class, for scripts"),
            ("dmclass status --watch", "refreshing, while a resync runs"),
        ],
    ),
    (
        "activate",
        &[
            ("dmclass activate --all", "every class found on the disks"),
            ("dmclass activate data", "one class"),
            (
                "dmclass activate --force data",
                "a closed class, from the disks present (asks first)",
            ),
        ],
    ),
    (
        "deactivate",
        &[("dmclass deactivate data", "stop every volume of a class")],
    ),
    (
        "export",
        &[(
            "dmclass export data > data.yaml",
            "the class as a configuration file",
        )],
    ),
    (
        "tune",
        &[(
            "dmclass tune --copy-rate 50MiB data/vol1",
            "limit the resync rate of a volume",
        )],
    ),
    (
        "snapshot",
        &[
            (
                "dmclass snapshot create data/vol1 s1 --size 1GiB",
                "a cow snapshot",
            ),
            (
                "dmclass snapshot merge data/s1 --yes",
                "roll the origin back to it",
            ),
        ],
    ),
    (
        "proxy",
        &[
            (
                "dmclass proxy part data/p1",
                "a point-in-time copy at /dev/dmclass/data/p1",
            ),
            (
                "dmclass proxy rejoin data/p1",
                "copy only what changed back into it",
            ),
        ],
    ),
    (
        "event",
        &[(
            "dmclass event add /dev/sdb",
            "what the udev rule runs when a disk appears",
        )],
    ),
    (
        "monitor",
        &[
            (
                "dmclass monitor",
                "react to dm events until stopped, one line per event",
            ),
            (
                "dmclass monitor --json --exec /usr/local/sbin/dmclass-mail",
                "JSON lines on stdout; run a program (e.g. one that mails) per event",
            ),
            (
                "dmclass monitor --once --json",
                "react once; report what differs from the recorded state",
            ),
            (
                "journalctl -u dmclass-monitor DMCLASS_EVENT=leg_failed",
                "the failed legs the monitor service logged",
            ),
        ],
    ),
];

fn examples_for(page: &str) -> &'static [(&'static str, &'static str)] {
    let top = page.split('-').next().unwrap_or(page);
    EXAMPLES
        .iter()
        .find(|(p, _)| *p == page || *p == top)
        .map_or(&[][..], |(_, e)| *e)
}

/// One page: clap_mangen's sections, then EXIT STATUS, EXAMPLES, the top page's extra
/// sections (FILES, LIMITS, ENVIRONMENT) and SEE ALSO.
fn page(cmd: &Command, page_name: &str, see_also: &[String]) -> io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone())
        .title(page_name.to_uppercase())
        .section("8")
        .manual("System Administration")
        .source(format!("dmclass {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    for (code, what) in EXIT_STATUS {
        r.control("TP", []);
        r.text([bold(*code)]);
        r.text([roman(*what)]);
    }
    let short = page_name.strip_prefix("dmclass-").unwrap_or("");
    let ex = examples_for(short);
    if !ex.is_empty() {
        r.control("SH", ["EXAMPLES"]);
        for (line, what) in ex {
            r.control("TP", []);
            r.text([bold(*line)]);
            r.text([roman(*what)]);
        }
    }
    if page_name == "dmclass" {
        extra_sections(cmd, &mut r);
    }
    if !see_also.is_empty() {
        r.control("SH", ["SEE ALSO"]);
        let refs: Vec<String> = see_also.to_vec();
        r.text([roman(refs.join(", "))]);
    }
    out.extend(r.to_roff().into_bytes());
    Ok(out)
}

/// The sections of `dmclass --help` after the examples (`Files:`, `Limits:`,
/// `Environment:`), as man sections with their lines kept.
fn extra_sections(cmd: &Command, r: &mut Roff) {
    let Some(text) = cmd.get_after_long_help().map(ToString::to_string) else {
        return;
    };
    let mut title: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            let t = line.trim_end_matches(':').to_uppercase();
            // EXAMPLES has its own section (above).
            title = (t != "EXAMPLES").then_some(t);
            if let Some(t) = &title {
                r.control("SH", [t.as_str()]);
                r.control("nf", []);
            }
            continue;
        }
        if title.is_some() && !line.trim().is_empty() {
            r.text([roman(line.trim_end())]);
        }
    }
}

/// Every page name with its command: dmclass(8), dmclass-COMMAND(8), and for commands
/// with subcommands (`snapshot`, `proxy`) dmclass-COMMAND-SUB(8).
fn pages(root: &Command) -> Vec<(String, Command)> {
    let mut out = vec![("dmclass".to_owned(), root.clone())];
    // `help` is clap's own (it prints these pages' text).
    let shown = |s: &&Command| !s.is_hide_set() && s.get_name() != "help";
    for sub in root.get_subcommands().filter(shown) {
        let name = format!("dmclass-{}", sub.get_name());
        let named = sub.clone().name(name.clone());
        for subsub in sub.get_subcommands().filter(shown) {
            let n = format!("{name}-{}", subsub.get_name());
            out.push((n.clone(), subsub.clone().name(n)));
        }
        out.push((name, named));
    }
    out
}

/// Write every page and completion under `out`; the files written.
pub fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut root = Cli::command();
    root.build();
    let man_dir = out.join("man");
    let comp_dir = out.join("completions");
    std::fs::create_dir_all(&man_dir)?;
    std::fs::create_dir_all(&comp_dir)?;
    let all = pages(&root);
    let names: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
    let mut files = Vec::new();
    for (name, cmd) in &all {
        let see: Vec<String> = if name == "dmclass" {
            names[1..]
                .iter()
                .map(|n| format!("{n}(8)"))
                .chain(["dmclass.yaml(5)".to_owned()])
                .collect()
        } else {
            vec!["dmclass(8)".to_owned(), "dmclass.yaml(5)".to_owned()]
        };
        let path = man_dir.join(format!("{name}.8"));
        std::fs::write(&path, page(cmd, name, &see)?)?;
        files.push(path);
    }
    let path = man_dir.join("dmclass.yaml.5");
    std::fs::write(&path, crate::yaml5::page())?;
    files.push(path);
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        files.push(clap_complete::generate_to(
            shell, &mut root, "dmclass", &comp_dir,
        )?);
    }
    Ok(files)
}
