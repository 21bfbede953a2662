//! `dmclass-doc OUTDIR`: dmclass's man pages and shell completions, generated from the
//! same clap definitions as `dmclass --help` (the CLI's `src/args/`, compiled in here),
//! so the two never drift apart. `make man` runs it; the package installs its output.
//!
//! Writes `OUTDIR/man/dmclass.8`, one `dmclass-COMMAND.8` per command (and per
//! subcommand of `snapshot` and `proxy`), `dmclass.yaml.5` (the configuration format,
//! from docs/configuration.md), and `OUTDIR/completions/` for bash, zsh and fish.

#[allow(dead_code, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../../dmclass-cli/src/args/mod.rs"]
mod args;
mod man;
mod yaml5;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv = std::env::args_os().skip(1);
    let (Some(out), None) = (argv.next(), argv.next()) else {
        eprintln!("usage: dmclass-doc OUTDIR");
        return ExitCode::from(2);
    };
    match man::generate(&PathBuf::from(out)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dmclass-doc: {e}");
            ExitCode::FAILURE
        }
    }
}
