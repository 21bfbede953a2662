//! Reading a configuration file and gating it: shared by check, plan and apply.

use crate::error::CliError;
use dmclass_model::Config;
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
        CliError::Refused(format!(
            "{file}: {} error(s) in the configuration; nothing was touched",
            diags.0.len()
        ))
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
    let file = path.display().to_string();
    let report = dmclass_rules::gate(config, facts);
    print_report(&file, &report);
    if report.denials.is_empty() {
        Ok(report)
    } else {
        Err(CliError::Refused(format!(
            "{file}: {} reason(s) why this configuration cannot be applied here; nothing was touched",
            report.denials.len()
        )))
    }
}
