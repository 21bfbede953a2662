//! `DMCLASS_FAILPOINT=<name>`: stop a changing command (`apply`, `snapshot`, `proxy`)
//! at a named step as if killed (exit status 137, no cleanup), for crash tests. Names:
//! `dmclass_engine::exec::failpoint`; what each stops: docs/failpoints.md.
//!
//! Test machinery, off the main path: commands run plans through
//! `crate::cmd::change::execute`, which comes here only when the variable is set.
//!
//! On a real machine the process exits inside the executor, at the failpoint. With
//! `DMCLASS_SIM` the executor stops there too, then the simulated world (everything
//! written and every device made up to the failpoint) is saved — the simulated
//! machine's state at the "kill" — and the process exits 137 ([`exit_if_failpoint`]).

use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::exec::failpoint::{CrashHook, Failpoints, FAILPOINT_ENV, FAILPOINT_EXIT};
use dmclass_engine::exec::ExecReport;
use dmclass_engine::plan::{DiskBinding, Plan};
use dmclass_engine::EngineError;

/// The armed failpoint name, when the variable is set and not empty.
pub fn from_env() -> Option<String> {
    std::env::var(FAILPOINT_ENV).ok().filter(|v| !v.is_empty())
}

/// Print the failpoint and exit as if killed.
fn die(name: &str) -> ! {
    eprintln!("dmclass: failpoint {name} reached: exiting as if killed (status {FAILPOINT_EXIT})");
    std::process::exit(FAILPOINT_EXIT)
}

/// The CLI's hook: exits at once on a real machine; returns the error (so the
/// simulation is saved first, see [`exit_if_failpoint`]) with `DMCLASS_SIM`.
struct ExitHook {
    /// Exit inside the executor (real machine).
    exit_now: bool,
}

impl CrashHook for ExitHook {
    fn crash(&mut self, name: &str) -> EngineError {
        if self.exit_now {
            die(name);
        }
        EngineError::Failpoint {
            name: name.to_owned(),
        }
    }
}

/// After the simulated world was saved: exit 137 when the command stopped at a
/// failpoint.
pub fn exit_if_failpoint<T>(r: &Result<T, CliError>) {
    if let Err(CliError::Engine(EngineError::Failpoint { name })) = r {
        die(name);
    }
}

/// Run `plan` on the backend with failpoint `spec` armed (a malformed one is refused
/// before anything is done), progress lines through `progress`. Callers save the
/// simulation, then call [`exit_if_failpoint`] on the result.
pub fn execute_armed(
    spec: &str,
    plan: &Plan,
    bindings: &[DiskBinding],
    backend: &mut Backend,
    progress: &mut dyn FnMut(dmclass_engine::progress::Progress<'_>),
) -> Result<ExecReport, CliError> {
    let mut hook = ExitHook {
        exit_now: matches!(backend, Backend::Real { .. }),
    };
    let mut fp = Failpoints::armed(spec, &mut hook)?;
    let (kernel, disks) = backend.parts();
    Ok(dmclass_engine::exec::execute_with(
        plan, bindings, kernel, disks, progress, &mut fp,
    )?)
}
