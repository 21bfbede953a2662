//! What the gate says: denials, warnings, and which rows allowed what.

use crate::matrix::Function;
use dmclass_model::Span;
use serde::{Serialize, Serializer};
use std::fmt;

/// One denial or warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Matrix ids the finding cites (rows, notes, hints); empty for safety checks that are
    /// not part of the matrix (busy disk, foreign signature, unknown disk).
    pub rule: Vec<String>,
    /// Class concerned.
    pub class: Option<String>,
    /// Disk, group, volume or snapshot concerned.
    pub object: Option<String>,
    /// Where in the configuration.
    #[serde(serialize_with = "ser_span")]
    pub span: Option<Span>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// A function of a class that the matrix allows, and the rows that allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// Class name.
    pub class: String,
    /// Function used.
    pub function: Function,
    /// Rows that allow it.
    pub rules: Vec<String>,
}

/// The gate's verdict on a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Reasons to refuse the configuration.
    pub denials: Vec<Finding>,
    /// Things the admin should know; they do not refuse.
    pub warnings: Vec<Finding>,
    /// Functions allowed, per class, with the rows allowing them.
    pub allowed: Vec<Allowance>,
}

impl Report {
    /// True when nothing was denied.
    pub fn is_allowed(&self) -> bool {
        self.denials.is_empty()
    }
}

#[allow(clippy::ref_option)] // serde's serialize_with passes `&Option<T>`
fn ser_span<S: Serializer>(span: &Option<Span>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct SpanJson {
        line: u32,
        column: u32,
    }
    span.map(|sp| SpanJson {
        line: sp.line,
        column: sp.column,
    })
    .serialize(s)
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(sp) = self.span {
            write!(f, "{}:{}: ", sp.line, sp.column)?;
        }
        match (&self.class, &self.object) {
            (Some(c), Some(o)) => write!(f, "class {c}, {o}: ")?,
            (Some(c), None) => write!(f, "class {c}: ")?,
            (None, Some(o)) => write!(f, "{o}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if !self.rule.is_empty() {
            write!(f, " [{}]", self.rule.join(", "))?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.denials {
            writeln!(f, "denied: {d}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for a in &self.allowed {
            writeln!(
                f,
                "allowed: class {}: {} ({})",
                a.class,
                a.function,
                a.rules.join(", ")
            )?;
        }
        Ok(())
    }
}
