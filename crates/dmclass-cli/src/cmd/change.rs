//! How a command that changes disks or the kernel runs: under the command lock, on
//! the backend, saving the simulated world afterwards (also after a failure), and
//! every plan through [`execute`].
//!
//! The crash tests' failpoints (`DMCLASS_FAILPOINT`, `crate::failpoint`) plug in here
//! and nowhere else: without the variable a plan is plainly executed.

use crate::backend::Backend;
use crate::error::CliError;
use crate::failpoint;
use dmclass_engine::exec::ExecReport;
use dmclass_engine::plan::{DiskBinding, Plan};
use std::process::ExitCode;

/// Run `body` on the backend while holding the command lock, then save the simulated
/// world: it keeps whatever was done, also when `body` failed.
pub(super) fn locked(
    body: impl FnOnce(&mut Backend) -> Result<ExitCode, CliError>,
) -> Result<ExitCode, CliError> {
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = body(&mut backend);
    backend.finish()?;
    result
}

/// [`locked`] for the commands the crash tests stop at a failpoint (`apply`,
/// `snapshot`, `proxy`; docs/failpoints.md): once the simulated world is saved, a
/// stop at a failpoint exits 137 as if killed.
pub(super) fn locked_crash_tested(
    body: impl FnOnce(&mut Backend) -> Result<ExitCode, CliError>,
) -> Result<ExitCode, CliError> {
    let result = locked(body);
    failpoint::exit_if_failpoint(&result);
    result
}

/// Run `plan` (made over `bindings`) on the backend, one progress line per action on
/// stderr; with `DMCLASS_FAILPOINT` set, stopping at that failpoint.
pub(super) fn execute(
    plan: &Plan,
    bindings: &[DiskBinding],
    backend: &mut Backend,
) -> Result<ExecReport, CliError> {
    // A shared class changes only under its class lease, and only with every volume's
    // lease here (a volume running on another node refuses the change).
    let current = super::lease::shared_take(plan, bindings, backend)?;
    let report = execute_plain(plan, bindings, backend)?;
    if let Some(current) = current {
        super::lease::shared_done(plan, &current, bindings, backend)?;
    }
    Ok(report)
}

fn execute_plain(
    plan: &Plan,
    bindings: &[DiskBinding],
    backend: &mut Backend,
) -> Result<ExecReport, CliError> {
    let mut steps = crate::progress::Steps::new(plan.actions.len());
    let mut progress = |p: dmclass_engine::progress::Progress<'_>| steps.show(p);
    if let Some(spec) = failpoint::from_env() {
        return failpoint::execute_armed(&spec, plan, bindings, backend, &mut progress);
    }
    let (kernel, disks) = backend.parts();
    Ok(dmclass_engine::exec::execute(
        plan,
        bindings,
        kernel,
        disks,
        &mut progress,
    )?)
}
