//! One file per command (`cmd/activate.rs`: `dmclass activate`); `snapshot` and
//! `proxy` keep their subcommands in one file each; `monitor/` is a folder (the loop,
//! how events are reported, the `--exec` program runner) and shares the reactions
//! of `event.rs` (both hand what happened to `dmclass_engine::react`). `plan.rs` also holds how a
//! configuration file is planned (`check` and `apply` plan the same way).
//!
//! Shared by several commands: [`context`] (classes on disk, confirmation, changing
//! a class on disk like `apply`), [`change`] (lock, backend, executor; the only door to
//! the crash tests' failpoints) and [`wait`] (until udev made the volumes' paths).

mod activate;
mod apply;
mod bootenv;
mod change;
mod check;
mod context;
mod deactivate;
mod esp;
mod event;
mod export;
mod lease;
mod lease_break;
mod lease_holder;
mod monitor;
mod netmirror;
mod plan;
mod probe;
mod proxy;
mod root;
mod rules;
mod snapshot;
mod status;
mod tune;
mod wait;

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
        Command::Plan(a) => plan::run(&a),
        Command::Apply(a) => apply::run(&a),
        Command::Status(a) => status::run(&a),
        Command::Event(a) => event::event(&a),
        Command::Monitor(a) => monitor::run(&a),
        Command::Activate(a) => activate::run(&a),
        Command::Deactivate(a) => deactivate::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Snapshot(a) => snapshot::run(&a),
        Command::Proxy(a) => proxy::run(&a),
        Command::Esp(a) => esp::run(&a),
        Command::Root(a) => root::run(&a),
        Command::Bootenv(a) => bootenv::run(&a),
        Command::Tune(a) => tune::run(&a),
        Command::LeaseHolder(a) => lease_holder::run(&a),
        Command::Lease(a) => lease_break::run(&a),
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
