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

/// A readable fixed-width table of the matrix: one line per row and function, then the
/// notes and the hints for combinations outside the rows.
pub fn render_matrix(m: &Matrix) -> String {
    let header = [
        "id",
        "function",
        "environments",
        "classes",
        "boot",
        "device kinds",
        "note",
    ];
    let mut rows: Vec<[String; 7]> = Vec::new();
    for r in &m.rules {
        for (i, f) in r.functions.iter().enumerate() {
            let first = i == 0;
            let or_blank = |s: String| if first { s } else { String::new() };
            rows.push([
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
                or_blank(devices(r)),
                or_blank(note(r)),
            ]);
        }
    }
    let mut width = header.map(str::len);
    for row in &rows {
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
    for row in &rows {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out.push_str("\nnotes:\n");
    for n in &m.notes {
        let sev = match n.severity {
            crate::matrix::Severity::Deny => "deny",
            crate::matrix::Severity::Warn => "warn",
        };
        let _ = writeln!(out, "  {:<4} {sev:<5} {}: {}", n.id, n.title, n.text);
    }
    out.push_str("\nnot in the matrix (denied):\n");
    for h in &m.hints {
        let _ = writeln!(out, "  {:<4} {} (hint: {})", h.id, h.message, h.hint);
    }
    out
}
