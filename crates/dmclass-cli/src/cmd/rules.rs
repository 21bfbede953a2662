//! `dmclass rules`: the support matrix.

use crate::args::rules::RulesArgs;
use crate::error::CliError;
use crate::output::{print_json, Schema};
use std::process::ExitCode;

/// Run `rules`.
pub fn run(args: &RulesArgs) -> Result<ExitCode, CliError> {
    let matrix = dmclass_rules::matrix()?;
    if args.json {
        print_json(Schema::Rules, matrix)?;
    } else {
        print!("{}", dmclass_rules::render_matrix(matrix));
    }
    Ok(ExitCode::SUCCESS)
}
