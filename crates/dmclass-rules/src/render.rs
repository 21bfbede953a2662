//! `dmclass rules`: the matrix as a fixed-width table.

use crate::matrix::{BootRequirement, Matrix, Rule};
use std::fmt::Write as _;

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn devices(rule: &Rule) -> String {
    rule.devices
        .iter()
        .map(|(env, kinds)| format!("{env}: {}", join(kinds)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn note(rule: &Rule) -> String {
    let mut parts: Vec<String> = rule.note.iter().cloned().collect();
    for l in &rule.limits {
        let allowed: Vec<String> = l
            .devices
            .iter()
            .map(|(env, kinds)| format!("{env}: {}", join(kinds)))
            .collect();
        let allowed = if allowed.is_empty() {
            "nowhere".to_string()
        } else {
            allowed.join("; ")
        };
        parts.push(format!("{} only on {allowed}", l.function));
    }
    parts.join(" | ")
}

/// Width `dmclass rules` keeps to (the longest cells wrap under their row).
const WIDTH: usize = 100;

/// `text` wrapped at word boundaries to lines of at most `WIDTH` characters, the first
/// starting with `first`, the others indented to its width.
fn wrap(first: &str, text: &str) -> String {
    let indent = " ".repeat(first.chars().count());
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line.clone_from(&indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// A readable table of the matrix within 100 columns: one line per row and function,
/// the row's device kinds and note wrapped under it, then the notes and the hints for
/// combinations outside the rows.
pub fn render_matrix(m: &Matrix) -> String {
    let header = ["id", "function", "environments", "classes", "boot"];
    let mut rows: Vec<([String; 5], Option<&Rule>)> = Vec::new();
    for r in &m.rules {
        for (i, f) in r.functions.iter().enumerate() {
            let first = i == 0;
            let or_blank = |s: String| if first { s } else { String::new() };
            rows.push((
                [
                    or_blank(r.id.clone()),
                    f.to_string(),
                    or_blank(join(&r.environments)),
                    or_blank(join(&r.classes)),
                    or_blank(
                        match r.boot {
                            BootRequirement::Uefi => "uefi",
                            BootRequirement::Any => "any",
                        }
                        .to_string(),
                    ),
                ],
                (i + 1 == r.functions.len()).then_some(r),
            ));
        }
    }
    let mut width = header.map(str::len);
    for (row, _) in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    let rule_line: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    line(
        &mut out,
        &rule_line.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let pad = " ".repeat(width[0] + 2);
    for (row, last_of) in &rows {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        if let Some(r) = last_of {
            out.push_str(&wrap(&format!("{pad}device kinds: "), &devices(r)));
            let n = note(r);
            if !n.is_empty() {
                out.push_str(&wrap(&format!("{pad}note: "), &n));
            }
        }
    }
    out.push_str("\nnotes:\n");
    for n in &m.notes {
        let sev = match n.severity {
            crate::matrix::Severity::Deny => "deny",
            crate::matrix::Severity::Warn => "warn",
        };
        out.push_str(&wrap(
            &format!("  {:<4} {sev:<5} ", n.id),
            &format!("{}: {}", n.title, n.text),
        ));
    }
    out.push_str("\nnot in the matrix (denied):\n");
    for h in &m.hints {
        out.push_str(&wrap(
            &format!("  {:<4} ", h.id),
            &format!("{} (hint: {})", h.message, h.hint),
        ));
    }
    out
}
