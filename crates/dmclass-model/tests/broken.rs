//! Every file in tests/broken/ ends with `# expect L:C fragment` lines: the parser
//! must report exactly those diagnostics (position and message fragment), no more.

#![allow(clippy::unwrap_used)]

use std::path::Path;

struct Expect {
    line: u32,
    column: u32,
    fragment: String,
}

fn expectations(text: &str) -> Vec<Expect> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect "))
        .map(|rest| {
            let (pos, fragment) = rest.split_once(' ').unwrap();
            let (line, column) = pos.split_once(':').unwrap();
            Expect {
                line: line.parse().unwrap(),
                column: column.parse().unwrap(),
                fragment: fragment.to_string(),
            }
        })
        .collect()
}

#[test]
fn every_broken_file_reports_exactly_the_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "only {} broken files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let expected = expectations(&text);
        assert!(!expected.is_empty(), "{name} has no `# expect` lines");
        let Err(diags) = dmclass_model::parse(&name, &text) else {
            failures.push(format!("{name}: parsed without error"));
            continue;
        };
        let mut unmatched: Vec<_> = diags.0.iter().collect();
        for e in &expected {
            let hit = unmatched.iter().position(|d| {
                d.span.line == e.line
                    && d.span.column == e.column
                    && d.message.contains(&e.fragment)
            });
            match hit {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => failures.push(format!(
                    "{name}: expected {}:{} `{}`; got:\n{diags}",
                    e.line, e.column, e.fragment
                )),
            }
        }
        for d in unmatched {
            failures.push(format!("{name}: unexpected {d}"));
        }
        // The rendered form is `file:line:col: message`.
        for d in &diags.0 {
            let prefix = format!("{name}:{}:{}: ", d.span.line, d.span.column);
            assert!(d.to_string().starts_with(&prefix), "{d}");
        }
        assert_eq!(diags.to_string().lines().count(), diags.0.len());
        let mut sorted = diags.0.clone();
        sorted.sort_by_key(|d| d.span);
        assert_eq!(
            sorted, diags.0,
            "{name}: diagnostics not sorted by position"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unknown_keys_say_what_is_accepted() {
    let text = "version: 1\nclasses:\n  - {name: c, type: local, colour: red}\n";
    let d = dmclass_model::parse("f.yaml", text).unwrap_err();
    assert_eq!(d.0.len(), 1);
    assert_eq!(
        d.0[0].to_string(),
        "f.yaml:3:28: unknown key `colour` in a class (accepted: name, type, nodes, \
         secret_file, hot_spare, disks, groups, volumes, snapshots)"
    );
}

#[test]
fn missing_version_is_reported_at_the_top() {
    let d = dmclass_model::parse("f.yaml", "classes: []\n").unwrap_err();
    assert_eq!(d.0.len(), 1);
    assert_eq!((d.0[0].span.line, d.0[0].span.column), (1, 1));
    assert!(d.0[0].message.contains("has no `version`"), "{d}");
    assert_eq!(d.0[0].accepted.as_deref(), Some("version: 1"));
}

#[test]
fn a_non_mapping_document_is_refused() {
    for text in ["- a\n- b\n", "just text\n", "42\n"] {
        let d = dmclass_model::parse("f.yaml", text).unwrap_err();
        assert!(
            d.0[0]
                .message
                .starts_with("expected a mapping for the configuration"),
            "{d}"
        );
    }
}

#[test]
fn second_document_is_refused() {
    let d = dmclass_model::parse("f.yaml", "version: 1\n---\nversion: 1\n").unwrap_err();
    assert_eq!(d.0.len(), 1);
    assert_eq!(d.0[0].span.line, 2);
    assert!(d.0[0].message.contains("second YAML document"), "{d}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!(
        "version: 1\nclasses: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let d = dmclass_model::parse("f.yaml", &text).unwrap_err();
    assert!(!d.0.is_empty());
}
