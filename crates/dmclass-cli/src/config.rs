//! Reading a configuration file and gating it: shared by check, plan and apply.

use crate::error::{CliError, Problem};
use dmclass_engine::EngineError;
use dmclass_model::{Class, Config, Span};
use dmclass_rules::{Facts, Finding, Report};
use std::path::Path;

/// The text of configuration file `path`, at most
/// [`dmclass_model::input::CONFIG_CAP`] bytes.
pub fn read(path: &Path) -> Result<String, CliError> {
    Ok(dmclass_model::input::read_capped_string(
        path,
        dmclass_model::input::CONFIG_CAP,
    )?)
}

/// Parse `path`; on errors print every diagnostic and refuse.
pub fn load(path: &Path) -> Result<Config, CliError> {
    let file = path.display().to_string();
    let text = read(path)?;
    dmclass_model::parse(&file, &text).map_err(|diags| {
        eprintln!("{diags}");
        CliError::Invalid {
            summary: format!(
                "{file}: {} error(s) in the configuration; nothing was touched",
                diags.0.len()
            ),
            problems: diags
                .0
                .iter()
                .map(|d| Problem {
                    message: match &d.accepted {
                        Some(a) => format!("{} (accepted: {a})", d.message),
                        None => d.message.clone(),
                    },
                    location: Some(at_span(&d.file, d.span)),
                })
                .collect(),
        }
    })
}

/// A finding as `file:line:col: ...` when it has a position.
pub fn at(file: &str, f: &Finding) -> String {
    if f.span.is_some() {
        format!("{file}:{f}")
    } else {
        f.to_string()
    }
}

/// Print warnings and denials of a gate report to stderr.
pub fn print_report(file: &str, report: &Report) {
    for w in &report.warnings {
        eprintln!("warning: {}", at(file, w));
    }
    for d in &report.denials {
        eprintln!("denied: {}", at(file, d));
    }
}

/// Gate the configuration; refuse (after printing every reason) when denied.
pub fn gate(path: &Path, config: &Config, facts: &Facts) -> Result<Report, CliError> {
    gate_report(path, dmclass_rules::gate(config, facts))
}

/// Print the gate's `report` on what `path` names; its denials refuse.
pub fn gate_report(path: &Path, report: Report) -> Result<Report, CliError> {
    let file = path.display().to_string();
    print_report(&file, &report);
    if report.denials.is_empty() {
        Ok(report)
    } else {
        Err(CliError::Invalid {
            summary: format!(
                "{file}: {} reason(s) why this configuration cannot be applied here; nothing was touched",
                report.denials.len()
            ),
            problems: report.denials.iter().map(|d| finding_problem(&file, d)).collect(),
        })
    }
}

/// `facts` with the partition tables of unfinished root class conversions counted as
/// dmclass's own: a peer disk whose table is the one the conversion wrote (the keep
/// disk's layout and the dmclass partition, [`written_by_conversion`]) is not refused
/// as "carries gpt", so applying the file again finishes the conversion. Any other
/// table, or a disk that cannot be read, keeps its signature (fail closed).
///
/// [`written_by_conversion`]: dmclass_engine::root::cut::written_by_conversion
pub fn with_own_tables(
    config: &Config,
    facts: &Facts,
    disks: &dyn dmclass_engine::io::Disks,
) -> Facts {
    use dmclass_engine::gpt::{read_gpt, GptOnDisk};
    use dmclass_model::{ClassType, DiskRole};
    let table = |path: &Path| match read_gpt(disks, path) {
        Ok(GptOnDisk::Table(t)) => Some(t),
        _ => None,
    };
    let mut out = facts.clone();
    for class in config
        .classes
        .iter()
        .filter(|c| c.class_type == ClassType::Root)
    {
        let Ok(bound) = dmclass_engine::plan::bind_disks(class, facts) else {
            continue;
        };
        let keep = class
            .disks
            .iter()
            .find(|d| d.role == DiskRole::Keep)
            .and_then(|k| bound.iter().find(|b| b.name == k.name.as_str()))
            .and_then(|b| table(&b.path));
        let Some(keep) = keep else { continue };
        for b in bound.iter().filter(|b| {
            class
                .disks
                .iter()
                .any(|d| d.name.as_str() == b.name && d.role != DiskRole::Keep)
        }) {
            let ours = table(&b.path)
                .is_some_and(|t| dmclass_engine::root::cut::written_by_conversion(&t, &keep));
            if let (true, Some(d)) = (ours, out.disks.iter_mut().find(|d| d.devnode == b.path)) {
                d.signatures.retain(|s| s.sig_type != "gpt");
            }
        }
    }
    out
}

/// A finding as a [`Problem`]: its position as the location, the rest as the message.
pub fn finding_problem(file: &str, f: &Finding) -> Problem {
    let unplaced = Finding {
        span: None,
        ..f.clone()
    };
    Problem {
        message: unplaced.to_string(),
        location: f.span.map(|s| at_span(file, s)),
    }
}

/// `file:line:col`, the place of a problem.
pub fn at_span(file: &str, s: Span) -> String {
    format!("{file}:{}:{}", s.line, s.column)
}

/// Where in the file an engine refusal of `class` belongs: the volume, snapshot, disk
/// or group it names (the last word of its object), else the class.
fn locate(class: &Class, e: &EngineError) -> Span {
    let named = match e {
        EngineError::NoRoom { volume, .. } => Some(volume.as_str()),
        EngineError::Refused { object, .. } => object.split_whitespace().last(),
        EngineError::InvalidSize { what, .. } => what.split_whitespace().last(),
        _ => None,
    };
    let Some(n) = named else {
        return class.span;
    };
    let n = n.trim_end_matches(':');
    // Volumes first, then snapshots, disks, groups: the first object so named.
    let volumes = class.volumes.iter().map(|v| (&v.name, v.span));
    let snapshots = class.snapshots.iter().map(|s| (&s.name, s.span));
    let disks = class.disks.iter().map(|d| (&d.name, d.span));
    let groups = class.groups.iter().map(|g| (&g.name, g.span));
    volumes
        .chain(snapshots)
        .chain(disks)
        .chain(groups)
        .find(|(name, _)| name.as_str() == n)
        .map_or(class.span, |(_, span)| span)
}

/// A planner refusal of `class` (read from `file`) with its place in the file: printed
/// as `file:line:col: ...` on stderr and carried for `--json`.
pub fn plan_refusal(file: &str, class: &Class, e: &EngineError) -> CliError {
    let p = Problem {
        message: e.to_string(),
        location: Some(at_span(file, locate(class, e))),
    };
    eprintln!("{p}");
    CliError::Invalid {
        summary: format!(
            "{file}: class {}: cannot be planned; nothing was touched",
            class.name
        ),
        problems: vec![p],
    }
}
