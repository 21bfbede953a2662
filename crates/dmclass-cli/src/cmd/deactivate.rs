//! `dmclass deactivate CLASS...`: stop every volume of the named classes.

use super::change;
use super::context::{found_classes, select};
use crate::args::deactivate::DeactivateArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble;
use std::process::ExitCode;

/// Run `deactivate`.
pub fn run(args: &DeactivateArgs) -> Result<ExitCode, CliError> {
    change::locked(|backend| deactivate_with(args, backend))
}

fn deactivate_with(args: &DeactivateArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let classes = found_classes(backend)?;
    // Unknown names are refused before any class is touched.
    let chosen = select(&classes, &args.classes)?;
    for c in chosen {
        let (kernel, _) = backend.parts();
        let removed = assemble::deactivate(&c.meta.name, kernel)?;
        println!(
            "class {}: stopped ({} device(s) removed)",
            c.meta.name,
            removed.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
