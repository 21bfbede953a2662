//! `dmclass export CLASS`: the class as it is on disk, as YAML that `apply` accepts.

use super::context::class_on_disks;
use crate::args::export::ExportArgs;
use crate::backend::Backend;
use crate::error::CliError;
use std::process::ExitCode;

/// Run `export`.
pub fn run(args: &ExportArgs) -> Result<ExitCode, CliError> {
    let mut backend = Backend::open()?;
    let c = class_on_disks(&mut backend, &args.class)?;
    let config = dmclass_engine::export::export(&c.meta)?;
    print!("{}", dmclass_model::to_yaml(&config));
    Ok(ExitCode::SUCCESS)
}
