//! The `dmclass` command: parses arguments, runs one command, maps the outcome to the
//! exit status of docs/cli.md (0 success, 1 refused/failed, 2 bad usage).
#![forbid(unsafe_code)]

mod args;
mod backend;
mod cmd;
mod config;
mod error;
mod facts;
mod failpoint;
mod lock;
mod output;
mod progress;
mod simdir;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    dmclass_linux::process::default_sigpipe();
    dmclass_linux::process::default_path();
    let cli = args::Cli::parse();
    output::set_verbosity(cli.verbose, cli.quiet);
    let (level, filter) = match cli.verbose {
        0 => ("warn", log::LevelFilter::Warn),
        1 => ("info", log::LevelFilter::Info),
        _ => ("debug", log::LevelFilter::Debug),
    };
    // Started by systemd (stderr is the journal stream: the monitor service,
    // dmclass-activate@): log to journald with priorities and fields; otherwise,
    // or when journald does not answer, to stderr.
    let journal = systemd_journal_logger::connected_to_journal()
        && systemd_journal_logger::JournalLog::new()
            .ok()
            .is_some_and(|j| j.install().is_ok());
    if journal {
        log::set_max_level(filter);
    } else {
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
            .format_timestamp(None)
            .init();
    }
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dmclass: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
