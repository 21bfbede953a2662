//! Where facts come from: a `--facts` file (no device access), the simulation's
//! `facts.json`, or a live probe.

use crate::error::CliError;
use dmclass_model::Environment;
use dmclass_rules::{Facts, FACTS_FORMAT};
use std::path::Path;

/// Load a facts document written by `dmclass probe --json`.
pub fn load(path: &Path) -> Result<Facts, CliError> {
    let text = dmclass_model::input::read_capped_string(path, dmclass_model::input::FACTS_CAP)?;
    let facts: Facts = serde_json::from_str(&text).map_err(|e| CliError::Facts {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if facts.format != FACTS_FORMAT {
        return Err(CliError::Facts {
            path: path.to_path_buf(),
            reason: format!(
                "format {} is not supported (this dmclass reads format {FACTS_FORMAT})",
                facts.format
            ),
        });
    }
    Ok(facts)
}

/// Facts of the simulated machine (`<dir>/facts.json`, see [`crate::simdir`]).
pub fn sim_facts(dir: &Path) -> Result<Facts, CliError> {
    load(&dir.join("facts.json"))
}

/// Facts from `--facts F` when given, else from probing this machine; `--env` overrides
/// the detected environment (the admin asserts where the configuration will run).
pub fn obtain(file: Option<&Path>, env: Option<Environment>) -> Result<Facts, CliError> {
    let mut facts = match file {
        Some(p) => load(p)?,
        None => match crate::simdir::sim_dir() {
            Some(dir) => sim_facts(&dir)?,
            None => dmclass_linux::probe()?,
        },
    };
    if let Some(env) = env {
        facts.environment = env;
    }
    Ok(facts)
}
