//! `dmclass tune CLASS/VOLUME --copy-rate RATE`: change a volume's copy speed at run
//! time.
//!
//! Like `snapshot create`, the declarative path in imperative form: the class as it is
//! on disk (`export`) with the volume's `copy_rate` changed goes through validation,
//! the support-matrix gate, the planner and the executor. The planner records the
//! rate in the metadata and reloads a live raid1 volume's top table (load, suspend,
//! resume, verify); an inactive volume gets it at its next activation.

use super::change;
use super::context::{changed_config, class_on_disks, no_such, plan_and_run};
use crate::args::tune::TuneArgs;
use crate::backend::Backend;
use crate::error::CliError;
use std::process::ExitCode;

/// Run `tune`.
pub fn run(args: &TuneArgs) -> Result<ExitCode, CliError> {
    change::locked(|backend| tune(args, backend))
}

fn tune(a: &TuneArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, vol) = (a.volume.class.as_str(), a.volume.name.as_str());
    let rate = a.copy_rate.0;
    let facts = backend.facts(None)?;
    let c = &class_on_disks(backend, cname)?;
    let Some(v) = c.meta.volume(vol) else {
        return Err(no_such(cname, "volume", vol));
    };
    let shown = rate.map_or_else(|| "default".to_owned(), |r| format!("{r}/s per disk"));
    if v.copy_rate == rate {
        println!("class {cname}: volume {vol} copy rate is already {shown}; nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let config = changed_config("tune", c, |class| {
        for v in &mut class.volumes {
            if v.name.as_str() == vol {
                v.copy_rate = rate;
            }
        }
    })?;
    plan_and_run(backend, &config, &facts, false)?;
    println!("class {cname}: volume {vol} copy rate set to {shown}");
    Ok(ExitCode::SUCCESS)
}
