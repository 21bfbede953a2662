//! One module per subcommand.

mod apply;
mod check;
mod classes;
pub(crate) mod event;
mod probe;
mod proxy;
mod rules;
mod snapshot;
mod tune;
pub(crate) mod wait;

use crate::args::Command;
use crate::error::CliError;
use std::process::ExitCode;

/// Run a command; `Ok` carries the exit status for commands whose "no" is not an error
/// (e.g. `check` finding denials prints them and exits 1).
pub fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Probe(a) => probe::run(&a),
        Command::Rules(a) => rules::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Plan(a) => apply::plan(&a),
        Command::Apply(a) => apply::apply(&a),
        Command::Status(a) => classes::status(&a),
        Command::Event(a) => event::event(&a),
        Command::Monitor(a) => event::monitor(&a),
        Command::Activate(a) => classes::activate(&a),
        Command::Deactivate(a) => classes::deactivate(&a),
        Command::Export(a) => classes::export(&a),
        Command::Snapshot(a) => snapshot::run(&a),
        Command::Proxy(a) => proxy::run(&a),
        Command::Tune(a) => tune::run(&a),
        Command::UdevImport { dm_name } => match dmclass_linux::udev_names::udev_import(&dm_name) {
            Some(lines) => {
                print!("{lines}");
                Ok(ExitCode::SUCCESS)
            }
            // Not one of ours: udev treats a failed IMPORT as "no properties".
            None => Ok(ExitCode::from(1)),
        },
    }
}
