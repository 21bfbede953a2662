//! `dmclass tune CLASS/VOLUME --copy-rate RATE`: change a volume's copy speed at run
//! time.
//!
//! Like `snapshot create`, the declarative path in imperative form: the class as it is
//! on disk (`export`) with the volume's `copy_rate` changed goes through validation,
//! the support-matrix gate, the planner and the executor. The planner records the
//! rate in the metadata and reloads a live raid1 volume's top table (load, suspend,
//! resume, verify); an inactive volume gets it at its next activation.

use super::classes::found_classes;
use super::snapshot::{changed_config, class_named, plan_and_run, split};
use crate::args::TuneArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_model::Bytes;
use std::process::ExitCode;

/// Run `tune`.
pub fn run(args: &TuneArgs) -> Result<ExitCode, CliError> {
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = tune(args, &mut backend);
    backend.finish()?;
    result
}

/// `--copy-rate`: `default` (unset) or a size; the range is checked by the model's
/// `copy_rate` rule when the changed class is validated.
fn copy_rate(s: &str) -> Result<Option<Bytes>, CliError> {
    if s == "default" {
        return Ok(None);
    }
    Bytes::parse(s)
        .map(Some)
        .map_err(|e| CliError::Refused(format!("--copy-rate: {e}; or `default`")))
}

fn tune(a: &TuneArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, vol) = split("CLASS/VOLUME", &a.volume)?;
    let rate = copy_rate(&a.copy_rate)?;
    let facts = backend.facts(None)?;
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    let Some(v) = c.meta.volume(vol) else {
        return Err(CliError::Refused(format!(
            "class {cname} has no volume `{vol}`"
        )));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rate_argument() {
        assert_eq!(copy_rate("default").unwrap(), None);
        assert_eq!(copy_rate("50MiB").unwrap(), Some(Bytes(50 << 20)));
        let e = copy_rate("fast").unwrap_err().to_string();
        assert!(e.contains("--copy-rate") && e.contains("default"), "{e}");
    }
}
