//! Progress of a change's actions on stderr. The plan was printed once before; on a
//! terminal the progress is one line that updates in place (step k of n, what it
//! does: indicatif), without a terminal nothing per step unless `--verbose` asks for
//! plain log lines (no control characters), and nothing with `--quiet`. Notes an
//! action leaves (a skipped step, a copy that was not needed) are always printed.

use dmclass_engine::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How the steps are shown.
enum Mode {
    /// One updating line on the terminal.
    Bar(ProgressBar),
    /// One log line per step (`--verbose` without a terminal).
    Lines,
    /// Nothing per step.
    Silent,
}

/// The progress of one plan's actions.
pub struct Steps {
    mode: Mode,
}

impl Steps {
    /// Progress for `total` actions, shown as the terminal and the flags allow.
    pub fn new(total: usize) -> Steps {
        let tty = std::io::stderr().is_terminal();
        let mode = if crate::output::quiet() {
            Mode::Silent
        } else if tty && !crate::output::verbose() {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(total).unwrap_or(u64::MAX)),
                ProgressDrawTarget::stderr(),
            );
            // The engine's line already says "[k/n] kind object detail".
            bar.set_style(
                ProgressStyle::with_template("  {wide_msg} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Mode::Bar(bar)
        } else if crate::output::verbose() {
            Mode::Lines
        } else {
            Mode::Silent
        };
        Steps { mode }
    }

    /// Show what the engine reports: a step moves the line on (or is a log line with
    /// `--verbose`), a note is always printed.
    pub fn show(&mut self, p: Progress<'_>) {
        match (&self.mode, p) {
            (Mode::Bar(bar), Progress::Note(n)) => bar.println(format!("  {n}")),
            (Mode::Lines | Mode::Silent, Progress::Note(n)) => eprintln!("  {n}"),
            (Mode::Bar(bar), Progress::Step { text, .. }) => {
                bar.set_message(text.to_string());
                bar.inc(1);
            }
            (Mode::Lines, p) => eprintln!("  {p}"),
            (Mode::Bar(_) | Mode::Silent, _) => {}
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}
