//! `dmclass check`: schema, references, support matrix and devices.

use crate::args::CheckArgs;
use crate::error::CliError;
use crate::output::print_json;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Serialize)]
struct CheckJson<'a> {
    ok: bool,
    file: String,
    environment: Option<String>,
    boot: Option<String>,
    errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a dmclass_rules::Report>,
}

pub fn run(args: &CheckArgs) -> Result<ExitCode, CliError> {
    let file = args.file.display().to_string();
    let text = crate::config::read(&args.file)?;
    let config = match dmclass_model::parse(&file, &text) {
        Ok(c) => c,
        Err(diags) => {
            if args.json {
                print_json(&CheckJson {
                    ok: false,
                    file,
                    environment: None,
                    boot: None,
                    errors: diags.0.iter().map(ToString::to_string).collect(),
                    report: None,
                })?;
            } else {
                eprintln!("{diags}");
            }
            return Err(CliError::Refused(format!(
                "{}: {} error(s) in the configuration; nothing was touched",
                args.file.display(),
                diags.0.len()
            )));
        }
    };
    let facts = crate::facts::obtain(args.facts.as_deref(), args.env)?;
    let report = dmclass_rules::gate(&config, &facts);
    let ok = report.denials.is_empty();
    if args.json {
        print_json(&CheckJson {
            ok,
            file: file.clone(),
            environment: Some(facts.environment.to_string()),
            boot: Some(facts.boot.to_string()),
            errors: Vec::new(),
            report: Some(&report),
        })?;
    } else {
        crate::config::print_report(&file, &report);
    }
    if !ok {
        return Err(CliError::Refused(format!(
            "{file}: {} reason(s) why this configuration cannot be applied here",
            report.denials.len()
        )));
    }
    if !args.json {
        let warnings = if report.warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warning(s)", report.warnings.len())
        };
        println!(
            "{file}: OK for {} ({} boot){warnings}",
            facts.environment, facts.boot
        );
    }
    Ok(ExitCode::SUCCESS)
}
