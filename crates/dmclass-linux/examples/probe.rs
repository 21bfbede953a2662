//! Prints what `dmclass-linux` sees on this machine.
//!
//! `cargo run -p dmclass-linux --example probe` prints the facts JSON (what
//! `dmclass probe --json` will print); with `--capture` it prints the recorded disk
//! properties in the capture format of `shared/data/captures/` (for new fixtures).

use dmclass_linux::capture::render_disk;
use dmclass_linux::disks::scan_disks;
use dmclass_linux::SysRoot;
use std::process::ExitCode;

fn main() -> ExitCode {
    let capture = std::env::args().skip(1).any(|a| a == "--capture");
    if capture {
        match scan_disks(&SysRoot::default()) {
            Ok(disks) => {
                for d in disks {
                    print!("{}", render_disk(&d.name, &d.props));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("probe: {e}");
                ExitCode::FAILURE
            }
        }
    } else {
        match dmclass_linux::probe() {
            Ok(facts) => match serde_json::to_string_pretty(&facts) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("probe: cannot encode facts: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("probe: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
