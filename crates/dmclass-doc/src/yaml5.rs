//! dmclass.yaml(5): the configuration format, rendered from docs/configuration.md (one
//! source for the format: the page cannot say other than the docs).
//!
//! The converter knows the Markdown that file uses: headings, paragraphs, `-` lists,
//! tables (each row becomes a tagged paragraph: the first cell, then `header: value`
//! for the others), fenced code blocks, and inline code, bold and links.

use roff::{bold, roman, Inline, Roff};

const SOURCE: &str = include_str!("../../../docs/configuration.md");

/// Inline Markdown → roff pieces: `code` and **bold** in bold, links as their text.
fn inline(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                out.push(roman(std::mem::take(&mut plain)));
                out.push(bold(&after[..end]));
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                out.push(roman(std::mem::take(&mut plain)));
                out.push(bold(&after[..end]));
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('[') {
            if let Some((label, tail)) = after.split_once("](") {
                if let Some(close) = tail.find(')') {
                    plain.push_str(label);
                    rest = &tail[close + 1..];
                    continue;
                }
            }
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push(roman(plain));
    out
}

fn cells(row: &str) -> Vec<String> {
    let row = row.trim().trim_start_matches('|').trim_end_matches('|');
    // A `|` inside inline code is part of the cell (e.g. `a | b`): split outside code.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut code = false;
    for ch in row.chars() {
        match ch {
            '`' => {
                code = !code;
                cur.push(ch);
            }
            '|' if !code => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(ch),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// The whole page.
pub fn page() -> String {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            "DMCLASS.YAML",
            "5",
            "",
            &format!("dmclass {}", env!("CARGO_PKG_VERSION")),
            "File Formats",
        ],
    );
    r.control("SH", ["NAME"]);
    r.text([roman("dmclass.yaml - the dmclass configuration file")]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([
        bold("dmclass check"),
        roman(" | "),
        bold("plan"),
        roman(" | "),
        bold("apply"),
        roman(" FILE"),
    ]);
    r.control("SH", ["DESCRIPTION"]);
    let mut lines = SOURCE.lines().peekable();
    let mut para = String::new();
    let flush = |para: &mut String, r: &mut Roff| {
        if !para.trim().is_empty() {
            r.control("PP", []);
            r.text(inline(para.trim()));
        }
        para.clear();
    };
    while let Some(line) = lines.next() {
        if line.starts_with("# ") {
            continue; // the title: NAME above
        }
        if let Some(h) = line.strip_prefix("## ") {
            flush(&mut para, &mut r);
            r.control("SH", [h.to_uppercase().as_str()]);
        } else if let Some(h) = line.strip_prefix("### ") {
            flush(&mut para, &mut r);
            r.control("SS", [h]);
        } else if line.starts_with("```") {
            flush(&mut para, &mut r);
            r.control("RS", []);
            r.control("nf", []);
            for code in lines.by_ref() {
                if code.starts_with("```") {
                    break;
                }
                r.text([roman(code)]);
            }
            r.control("fi", []);
            r.control("RE", []);
        } else if line.starts_with('|') {
            flush(&mut para, &mut r);
            let head = cells(line);
            if lines
                .peek()
                .is_some_and(|l| l.starts_with("|-") || l.starts_with("|:"))
            {
                lines.next();
            }
            while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
                let c = cells(row);
                r.control("TP", []);
                r.text(inline(c.first().map_or("", String::as_str)));
                let rest: Vec<String> = head
                    .iter()
                    .zip(&c)
                    .skip(1)
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| format!("{h}: {v}"))
                    .collect();
                r.text(inline(&rest.join("; ")));
            }
        } else if let Some(item) = line.strip_prefix("- ") {
            flush(&mut para, &mut r);
            let mut text = item.to_owned();
            while let Some(more) = lines.next_if(|l| l.starts_with("  ") && !l.trim().is_empty()) {
                text.push(' ');
                text.push_str(more.trim());
            }
            r.control("IP", ["-", "2"]);
            r.text(inline(&text));
        } else if line.trim().is_empty() {
            flush(&mut para, &mut r);
        } else {
            para.push(' ');
            para.push_str(line.trim());
        }
    }
    flush(&mut para, &mut r);
    r.control("SH", ["SEE ALSO"]);
    r.text([roman(
        "dmclass(8), dmclass-check(8), dmclass-apply(8), dmclass-export(8)",
    )]);
    r.to_roff()
}
