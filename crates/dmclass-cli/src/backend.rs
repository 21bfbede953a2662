//! Which kernel and disks the commands drive: the real ones (device-mapper ioctls,
//! O_DIRECT disk I/O, a live probe), or — when `DMCLASS_SIM=<dir>` is set — the
//! engine's simulation persisted in that directory, so the whole command line can be
//! tested end to end, across invocations, on a machine without device-mapper.
//!
//! Simulation directory: `facts.json` (what `probe` reports; written by the test) and
//! `world.json` (simulated disks and dm devices; created from the facts when absent),
//! `leases.json` (the model of sanlock's leases, shared by every "node" that uses the
//! directory; the node is the facts' host name).

use crate::error::CliError;
use crate::facts::sim_facts;
use crate::simdir::{sim_dir, SIM_ENV};
use dmclass_engine::io::{Disks, Kernel};
use dmclass_engine::lease::client::{LeaseClient, SimLeaseState, SimLeases};
use dmclass_engine::sim::{self, SimDisks, SimKernel};
use dmclass_model::Environment;
use dmclass_rules::Facts;
use std::path::PathBuf;

/// Kernel + disks + facts for one command.
pub enum Backend {
    /// This machine.
    Real {
        /// Device-mapper.
        kernel: dmclass_linux::LinuxKernel,
        /// Member disks.
        disks: dmclass_linux::LinuxDisks,
    },
    /// The persisted simulation.
    Sim {
        /// Simulation directory.
        dir: PathBuf,
        /// Simulated kernel.
        kernel: SimKernel,
        /// Simulated disks.
        disks: SimDisks,
        /// Simulated leases.
        leases: SimLeaseState,
    },
}

fn sim_err(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Refused(format!("simulation ({SIM_ENV}): {what}: {e}"))
}

impl Backend {
    /// Open the backend for a command that changes or inspects the kernel.
    pub fn open() -> Result<Backend, CliError> {
        if let Some(dir) = sim_dir() {
            let world = dir.join("world.json");
            let (kernel, disks) = if world.exists() {
                sim::load(&world).map_err(|e| sim_err("cannot load the world", e))?
            } else {
                let facts = sim_facts(&dir)?;
                sim::world_from_facts(&facts).map_err(|e| sim_err("cannot build the world", e))?
            };
            // Said every time: a command that seems to have worked on a real
            // machine must not have gone to the simulator unnoticed.
            if !crate::output::quiet() {
                eprintln!(
                    "dmclass: simulated machine (DMCLASS_SIM={}): no real disk or kernel is touched",
                    dir.display()
                );
            }
            let leases = load_leases(&dir)?;
            return Ok(Backend::Sim {
                dir,
                kernel,
                disks,
                leases,
            });
        }
        Ok(Backend::Real {
            kernel: dmclass_linux::LinuxKernel::new()?,
            disks: dmclass_linux::LinuxDisks::new(),
        })
    }

    /// Open the backend inside a udev worker (`dmclass event`): never wait for udev
    /// (settling from inside udev would wait for the very event being handled).
    pub fn open_in_udev() -> Result<Backend, CliError> {
        Ok(match Backend::open()? {
            Backend::Real { kernel, disks } => Backend::Real {
                kernel: kernel.within_udev_worker(),
                disks,
            },
            sim @ Backend::Sim { .. } => sim,
        })
    }

    /// Facts about this machine: `--facts` file, the simulation's, or a live probe.
    /// `env` overrides the detected environment.
    pub fn facts(&self, env: Option<Environment>) -> Result<Facts, CliError> {
        let mut facts = match self {
            Backend::Real { .. } => dmclass_linux::probe()?,
            Backend::Sim { dir, .. } => sim_facts(dir)?,
        };
        if let Some(env) = env {
            facts.environment = env;
        }
        Ok(facts)
    }

    /// The kernel and disks, mutably.
    pub fn parts(&mut self) -> (&mut dyn Kernel, &mut dyn Disks) {
        match self {
            Backend::Real { kernel, disks } => (kernel, disks),
            Backend::Sim { kernel, disks, .. } => (kernel, disks),
        }
    }

    /// The disks and the lease manager (sanlock here; the simulator's model), as host
    /// `host_id` (the simulator's; sanlock takes it when a lockspace is joined).
    pub fn lease_parts(&mut self, host_id: u16) -> (&mut dyn Disks, Box<dyn LeaseClient + '_>) {
        match self {
            Backend::Real { disks, .. } => {
                (disks, Box::new(dmclass_linux::sanlock::Sanlock::new()))
            }
            Backend::Sim { disks, leases, .. } => (
                disks,
                Box::new(SimLeases {
                    state: leases,
                    host_id: u64::from(host_id),
                }),
            ),
        }
    }

    /// Persist the simulation (no-op for the real machine). Called after every
    /// command, also a failed one: the simulated world keeps what was done.
    pub fn finish(&self) -> Result<(), CliError> {
        if let Backend::Sim {
            dir, disks, leases, ..
        } = self
        {
            sim::save(disks, &dir.join("world.json")).map_err(|e| sim_err("cannot save", e))?;
            let text = serde_json::to_string_pretty(leases)
                .map_err(|e| sim_err("cannot save the leases", e))?;
            std::fs::write(dir.join("leases.json"), text)
                .map_err(|e| sim_err("cannot save the leases", e))?;
        }
        Ok(())
    }
}

/// The simulated leases of `dir` (none yet: empty).
fn load_leases(dir: &std::path::Path) -> Result<SimLeaseState, CliError> {
    let path = dir.join("leases.json");
    if !path.exists() {
        return Ok(SimLeaseState::default());
    }
    let text = dmclass_model::input::read_capped_string(&path, dmclass_model::input::FACTS_CAP)
        .map_err(|e| sim_err("cannot read the leases", e))?;
    serde_json::from_str(&text).map_err(|e| sim_err("cannot read the leases", e))
}
