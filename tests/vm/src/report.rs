//! Assertion helpers for scenarios: a failure names the guest command, its output and
//! the console log (kept on failure), so a red test is readable without rerunning it.

use crate::agent::Output;
use crate::image::{skip_requested, SKIP_ENV};
use crate::spec::VmSpec;
use crate::vm::Vm;
use std::fmt::{Debug, Write as _};
use std::path::Path;

const HALF_SHOWN: usize = 4000;
const CONSOLE_TAIL_LINES: usize = 25;

fn indent(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("    (empty)\n");
    }
    // long output: its head and its tail (JSON documents matter at both ends)
    let (head, tail) = if text.len() > 2 * HALF_SHOWN {
        let mut h = HALF_SHOWN;
        while !text.is_char_boundary(h) {
            h -= 1;
        }
        let mut t = text.len() - HALF_SHOWN;
        while !text.is_char_boundary(t) {
            t += 1;
        }
        (&text[..h], Some((t - h, &text[t..])))
    } else {
        (text, None)
    };
    for line in head.lines() {
        let _ = writeln!(out, "    | {line}");
    }
    if let Some((cut, tail)) = tail {
        let _ = writeln!(out, "    | [... {cut} bytes cut ...]");
        for line in tail.lines() {
            let _ = writeln!(out, "    | {line}");
        }
    }
}

/// The text of a scenario failure: what was expected, the guest command with its exit
/// status, stdout and stderr, and where the console log is (with its last lines).
pub fn failure_report(
    scenario: &str,
    what: &str,
    output: Option<&Output>,
    console_log: &Path,
) -> String {
    let mut s = format!("VM scenario `{scenario}` failed: {what}\n");
    if let Some(o) = output {
        s.push_str("  guest command:\n");
        indent(&mut s, &o.command);
        let _ = writeln!(s, "  exit status: {}", o.status);
        s.push_str("  stdout:\n");
        indent(&mut s, &o.stdout);
        s.push_str("  stderr:\n");
        indent(&mut s, &o.stderr);
    }
    let _ = writeln!(s, "  console log (kept): {}", console_log.display());
    if let Ok(text) = std::fs::read_to_string(console_log) {
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(CONSOLE_TAIL_LINES)..].join("\n");
        let _ = writeln!(s, "  last {CONSOLE_TAIL_LINES} console lines:");
        indent(&mut s, &tail);
    }
    s
}

impl Vm {
    /// Panics with a [`failure_report`].
    pub fn fail(&self, what: &str, output: Option<&Output>) -> ! {
        panic!(
            "{}",
            failure_report(&self.spec().name, what, output, self.console_log())
        )
    }

    /// Fails unless `condition` holds.
    pub fn check(&self, condition: bool, what: &str, output: Option<&Output>) {
        if !condition {
            self.fail(what, output);
        }
    }

    /// Fails unless `expected == actual`.
    pub fn check_eq<T: PartialEq + Debug + ?Sized>(
        &self,
        what: &str,
        expected: &T,
        actual: &T,
        output: Option<&Output>,
    ) {
        if expected != actual {
            self.fail(
                &format!("{what}: expected {expected:?}, got {actual:?}"),
                output,
            );
        }
    }

    /// Runs `command` and fails unless it exits 0; returns its output.
    pub fn sh(&mut self, command: &str) -> Output {
        self.sh_status(command, 0)
    }

    /// Runs `command` and fails unless it exits with `status`.
    pub fn sh_status(&mut self, command: &str, status: i32) -> Output {
        match self.run(command) {
            Ok(out) if out.status == status => out,
            Ok(out) => self.fail(&format!("expected exit status {status}"), Some(&out)),
            Err(e) => self.fail(
                &format!("guest command `{command}` could not run: {e}"),
                None,
            ),
        }
    }

    /// Runs `command` (must exit 0) and fails unless its stdout contains `needle`.
    pub fn sh_contains(&mut self, command: &str, needle: &str) -> Output {
        let out = self.sh(command);
        if !out.stdout.contains(needle) {
            self.fail(&format!("stdout does not contain {needle:?}"), Some(&out));
        }
        out
    }
}

/// Boots `spec`, or returns `None` when `DMCLASS_VM_SKIP=1` (the developers' escape
/// hatch). Any other failure to boot (no image, no QEMU, no dmclass binary, a guest that
/// does not come up) panics with the reason.
pub fn boot_or_skip(spec: VmSpec) -> Option<Vm> {
    if skip_requested() {
        eprintln!(
            "dmclass-vmtest: {SKIP_ENV}=1: skipping VM scenario `{}`",
            spec.name
        );
        return None;
    }
    let name = spec.name.clone();
    match Vm::boot(spec) {
        Ok(vm) => Some(vm),
        Err(e) => panic!("VM scenario `{name}` could not boot: {e}"),
    }
}
