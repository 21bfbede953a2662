//! Failpoints: a named place in a plan's execution where dmclass stops as if it was
//! killed, to test crash safety (unit tests on the simulation, VM tests with a real
//! kernel and power cuts).
//!
//! The CLI reads [`FAILPOINT_ENV`] (`DMCLASS_FAILPOINT`) and installs a hook that
//! prints the failpoint to stderr and exits with status 137 without any cleanup; engine
//! tests install [`ErrorHook`], which makes the executor return
//! [`EngineError::Failpoint`] at that place (nothing after it runs either).
//!
//! Names (`kind` is an action kind as `plan --json` spells it: `format_area`,
//! `zero_extent`, `write_metadata`, `create`, `load`, `suspend`, `resume`, `verify`,
//! `remove`, `write_partition_table`, `copy_esp`; actions are numbered from 1 as in the `[N/M]` progress lines):
//!
//! | name | stops |
//! |---|---|
//! | `action:N` | after action N completed |
//! | `before:<kind>[:<n>]` | before the n-th action of that kind (default 1) |
//! | `after:<kind>[:<n>]` | after the n-th action of that kind |
//! | `before:<kind>:<object>` / `after:<kind>:<object>` | before / after the first action of that kind on that object (a dm name, a disk name, or the class name for metadata writes) |
//! | `mid:write_metadata[:<n>]` | inside the n-th metadata write, after the first disk got the new generation and before the others did (a split generation) |
//!
//! A selector made only of digits is an occurrence number, anything else an object.
//! A failpoint that names no action of the plan never fires (the apply completes).

use super::super::plan::{Action, ActionKind, Plan};
use crate::error::{EngineError, Result};

/// Environment variable the CLI reads.
pub const FAILPOINT_ENV: &str = "DMCLASS_FAILPOINT";

/// Exit status of a command stopped at a failpoint (as if killed by SIGKILL).
pub const FAILPOINT_EXIT: i32 = 137;

/// Where relative to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before the action starts.
    Before,
    /// After the action completed.
    After,
    /// Inside a metadata write, after its first disk.
    Mid,
}

/// Which action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// The n-th action of the kind (1-based).
    Nth(usize),
    /// The first action of the kind on this object.
    Object(String),
}

/// A parsed failpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failpoint {
    /// After action N (1-based) completed.
    Action(usize),
    /// Before / after / inside an action of a kind.
    At {
        /// Where.
        when: When,
        /// Action kind.
        kind: ActionKind,
        /// Which one.
        select: Select,
    },
}

const KINDS: [ActionKind; 12] = [
    ActionKind::FormatArea,
    ActionKind::ZeroExtent,
    ActionKind::WriteMetadata,
    ActionKind::Create,
    ActionKind::Load,
    ActionKind::Suspend,
    ActionKind::Resume,
    ActionKind::Verify,
    ActionKind::Remove,
    ActionKind::WritePartitionTable,
    ActionKind::CopyEsp,
    ActionKind::CopyRegions,
];

fn bad(spec: &str, why: &str) -> EngineError {
    EngineError::BadFailpoint {
        spec: spec.to_owned(),
        reason: why.to_owned(),
    }
}

impl Failpoint {
    /// Parse a failpoint name (grammar in the module doc).
    pub fn parse(spec: &str) -> Result<Failpoint> {
        let mut parts = spec.splitn(3, ':');
        let head = parts.next().unwrap_or_default();
        let second = parts.next();
        let third = parts.next();
        if head == "action" {
            let n = second
                .filter(|_| third.is_none())
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(spec, "expected action:N with N >= 1"))?;
            return Ok(Failpoint::Action(n));
        }
        let when = match head {
            "before" => When::Before,
            "after" => When::After,
            "mid" => When::Mid,
            _ => return Err(bad(spec, "expected action:, before:, after: or mid:")),
        };
        let k = second.ok_or_else(|| bad(spec, "missing the action kind"))?;
        let kind = KINDS.into_iter().find(|x| x.as_str() == k).ok_or_else(|| {
            let all: Vec<&str> = KINDS.iter().map(|x| x.as_str()).collect();
            bad(
                spec,
                &format!("unknown action kind {k:?} (one of {})", all.join(", ")),
            )
        })?;
        if when == When::Mid && kind != ActionKind::WriteMetadata {
            return Err(bad(spec, "mid: is only defined for write_metadata"));
        }
        let select = match third {
            None => Select::Nth(1),
            Some("") => return Err(bad(spec, "empty selector")),
            Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => Select::Nth(
                s.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad(spec, "occurrence numbers start at 1"))?,
            ),
            Some(s) => Select::Object(s.to_owned()),
        };
        Ok(Failpoint::At { when, kind, select })
    }

    /// Whether this failpoint is at `when` of action `index` (0-based) of `plan`.
    pub fn hits(&self, plan: &Plan, index: usize, at: When) -> bool {
        let Some(a) = plan.actions.get(index) else {
            return false;
        };
        match self {
            Failpoint::Action(n) => at == When::After && *n == index + 1,
            Failpoint::At { when, kind, select } => {
                if *when != at || a.kind != *kind {
                    return false;
                }
                let same = plan.actions[..=index].iter().filter(|x| x.kind == *kind);
                match select {
                    Select::Nth(n) => same.count() == *n,
                    Select::Object(o) => {
                        a.object == *o && same.filter(|x| x.object == *o).count() == 1
                    }
                }
            }
        }
    }
}

/// What happens when the armed failpoint is reached.
pub trait CrashHook {
    /// Called with the failpoint's name. The CLI's hook exits the process; a test's
    /// returns the error the executor then returns.
    fn crash(&mut self, name: &str) -> EngineError;
}

/// The test hook: the executor stops with [`EngineError::Failpoint`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorHook;

impl CrashHook for ErrorHook {
    fn crash(&mut self, name: &str) -> EngineError {
        EngineError::Failpoint {
            name: name.to_owned(),
        }
    }
}

/// An armed failpoint (or none) with its hook.
pub struct Failpoints<'h> {
    point: Option<(String, Failpoint)>,
    hook: &'h mut dyn CrashHook,
}

impl<'h> Failpoints<'h> {
    /// Nothing armed.
    pub fn none(hook: &'h mut dyn CrashHook) -> Self {
        Failpoints { point: None, hook }
    }

    /// Arm `spec` (parsed; refused when malformed).
    pub fn armed(spec: &str, hook: &'h mut dyn CrashHook) -> Result<Self> {
        let fp = Failpoint::parse(spec)?;
        Ok(Failpoints {
            point: Some((spec.to_owned(), fp)),
            hook,
        })
    }

    /// Stop here when the armed failpoint is at `when` of action `index`.
    pub fn check(&mut self, plan: &Plan, index: usize, at: When) -> Result<()> {
        match &self.point {
            Some((name, fp)) if fp.hits(plan, index, at) => Err(self.hook.crash(name)),
            _ => Ok(()),
        }
    }
}

/// Every failpoint name that fires in `plan`, in execution order, each with the
/// action it is attached to (for documentation, `plan` output and crash tests).
pub fn names(plan: &Plan) -> Vec<(String, &Action)> {
    let mut out = Vec::new();
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (i, a) in plan.actions.iter().enumerate() {
        let k = a.kind.as_str();
        let n = {
            let c = seen.entry(k).or_default();
            *c += 1;
            *c
        };
        out.push((format!("before:{k}:{n}"), a));
        if a.kind == ActionKind::WriteMetadata {
            out.push((format!("mid:{k}:{n}"), a));
        }
        out.push((format!("after:{k}:{n}"), a));
        out.push((format!("action:{}", i + 1), a));
    }
    out
}
