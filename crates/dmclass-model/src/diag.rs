//! Positioned configuration errors: every one names `file:line:column`, what is wrong,
//! and (where there is a closed set) what would be accepted.

use crate::config::Span;
use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given to the parser.
    pub file: String,
    /// Where the problem is (1-based line and column).
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What would be accepted instead, when that can be said.
    pub accepted: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without an `accepted` hint.
    pub fn new(file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            span,
            message: message.into(),
            accepted: None,
        }
    }

    /// Add what would be accepted.
    #[must_use]
    pub fn accepting(mut self, accepted: impl Into<String>) -> Self {
        self.accepted = Some(accepted.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.span.line, self.span.column, self.message
        )?;
        if let Some(a) = &self.accepted {
            write!(f, " (accepted: {a})")?;
        }
        Ok(())
    }
}

/// Every problem found in one file, sorted by position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sort by position (stable, so problems at one spot keep their discovery order)
    /// and drop exact duplicates.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| d.span);
        self.0.dedup();
    }

    /// Whether there is no problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// One diagnostic per line, no trailing newline.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
