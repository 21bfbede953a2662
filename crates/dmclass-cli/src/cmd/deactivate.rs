//! `dmclass deactivate CLASS...`: stop every volume of the named classes, give their
//! leases back (shared classes) and drop this node's netmirror links.

use super::change;
use super::context::{found_classes, select};
use super::lease;
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
        // Every device is gone: the leases can go to another node.
        if lease::is_shared(&c.meta) {
            let paths = c.present_paths();
            let cl = lease::class_leases(backend, &c.meta, &paths)?;
            let mut back: Vec<Option<&str>> = vec![None];
            back.extend(c.meta.volumes.iter().map(|v| Some(v.name.as_str())));
            let n = lease::give_back(backend, &cl, &back)?;
            if n > 0 {
                println!("class {}: gave back {n} lease(s)", c.meta.name);
            }
        }
        // A netmirror: this node's links go too (the partner's mirror loses this leg).
        super::netmirror::withdraw(backend, c)?;
    }
    Ok(ExitCode::SUCCESS)
}
