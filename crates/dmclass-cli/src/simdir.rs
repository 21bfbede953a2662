//! `DMCLASS_SIM=<dir>`: whether the commands drive the engine's simulation, and where
//! it is kept. Below everything that asks (the backend, where facts come from, the
//! command lock), so none of them has to ask another.

use std::path::PathBuf;

/// Environment variable selecting the simulation.
pub const SIM_ENV: &str = "DMCLASS_SIM";

/// The simulation directory, when `DMCLASS_SIM` is set (and not empty).
pub fn sim_dir() -> Option<PathBuf> {
    std::env::var_os(SIM_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
