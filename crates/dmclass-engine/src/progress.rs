//! What a running change or activation reports, for the caller to show (the CLI's
//! progress line, a log line, nothing). Typed, so the caller never guesses from the
//! text whether a line is a step or a note.

use std::fmt;

/// One report of a running [`crate::exec::execute`] or activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Action `number` (from 1) of `total` starts; `text` is `[k/n] kind object detail`.
    Step {
        /// Its number, from 1.
        number: usize,
        /// How many actions the plan has.
        total: usize,
        /// The line shown for it.
        text: &'a str,
    },
    /// A note the last action left (a step skipped, a copy not needed).
    Note(&'a str),
    /// The activation of a volume starts.
    Activating {
        /// The class.
        class: &'a str,
        /// The volume.
        volume: &'a str,
    },
}

impl fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Step { text, .. } => f.write_str(text),
            Progress::Note(n) => write!(f, "note: {n}"),
            Progress::Activating { class, volume } => write!(f, "activating {class}/{volume}"),
        }
    }
}
