//! Progress of a change's actions on stderr. The plan was printed once before; on a
//! terminal the progress is one line that updates in place (step k of n, what it
//! does: indicatif), without a terminal nothing per step unless `--verbose` asks for
//! plain log lines (no control characters), and nothing with `--quiet`. Notes an
//! action leaves (a skipped step, a copy that was not needed) are always printed.

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

    /// An engine progress line: a step (`[k/n] ...`) or a note (indented).
    pub fn line(&mut self, line: &str) {
        let note = line.starts_with(' ');
        match &self.mode {
            Mode::Bar(bar) if note => bar.println(format!("  {}", line.trim_start())),
            Mode::Bar(bar) => {
                bar.set_message(line.to_string());
                bar.inc(1);
            }
            Mode::Lines => eprintln!("  {line}"),
            Mode::Silent if note => eprintln!("  {}", line.trim_start()),
            Mode::Silent => {}
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
