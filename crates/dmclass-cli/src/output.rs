//! Plain-text tables and JSON output shared by the commands.

use crate::error::CliError;
use dmclass_model::Bytes;
use serde::Serialize;
use std::fmt::Write as _;

/// A fixed-width text table: a header row and data rows, columns padded to fit.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| (*s).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; missing cells are blank.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Render with two spaces between columns, no trailing blanks.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, w) in width.iter().enumerate() {
                let cell = r.get(i).map_or("", String::as_str);
                if i + 1 == cols {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Human-readable binary size (`512.0 MiB`).
pub fn human(size: Bytes) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = 0;
    // Precision loss is fine for display.
    #[allow(clippy::cast_precision_loss)]
    let mut v = size.0 as f64;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{} B", size.0)
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// How much the command prints: `-q` (-1), default (0), `-v` (1), `-vv` (2).
static VERBOSITY: std::sync::atomic::AtomicI8 = std::sync::atomic::AtomicI8::new(0);

/// Records `--verbose` (count) and `--quiet` once, from `main`.
pub fn set_verbosity(verbose: u8, quiet: bool) {
    let v = if quiet {
        -1
    } else {
        i8::try_from(verbose).unwrap_or(i8::MAX)
    };
    VERBOSITY.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// `--quiet` was given.
pub fn quiet() -> bool {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed) < 0
}

/// `--verbose` was given (at least once).
pub fn verbose() -> bool {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed) > 0
}

/// The name and version of a `--json` document, printed as its first field,
/// `"schema": "dmclass-<name>/<version>"`. A script checks it before reading on; the
/// version changes only when a field is removed or changes meaning (new fields may
/// appear within a version). Each is described by `docs/schemas/dmclass-<name>-<version>.json`
/// (JSON Schema), and `tests/json_schemas.rs` validates every command's output against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `dmclass status --json`.
    Status,
    /// `dmclass plan --json` (also its error document).
    Plan,
    /// `dmclass check --json` (also its error document).
    Check,
    /// `dmclass probe --json` (also the input of `--facts`).
    Probe,
    /// `dmclass rules --json`.
    Rules,
    /// `dmclass esp sync --json`.
    Esp,
    /// `dmclass bootenv list --json`.
    Bootenv,
}

impl Schema {
    /// The `schema` field's value.
    pub fn id(self) -> &'static str {
        match self {
            Schema::Status => "dmclass-status/1",
            Schema::Plan => "dmclass-plan/1",
            Schema::Check => "dmclass-check/1",
            Schema::Probe => "dmclass-probe/1",
            Schema::Rules => "dmclass-rules/1",
            Schema::Esp => "dmclass-esp/1",
            Schema::Bootenv => "dmclass-bootenv/1",
        }
    }
}

#[derive(Serialize)]
struct Versioned<'a, T: Serialize> {
    schema: &'static str,
    #[serde(flatten)]
    doc: &'a T,
}

/// A document as pretty JSON, its schema first.
pub fn json_text<T: Serialize>(schema: Schema, value: &T) -> Result<String, CliError> {
    let doc = Versioned {
        schema: schema.id(),
        doc: value,
    };
    serde_json::to_string_pretty(&doc).map_err(|e| CliError::Output(e.to_string()))
}

/// Print a document as pretty JSON on stdout, its schema first.
pub fn print_json<T: Serialize>(schema: Schema, value: &T) -> Result<(), CliError> {
    println!("{}", json_text(schema, value)?);
    Ok(())
}

/// Test helper: `value` as the `--json` document of `schema`, checked against its
/// schema file in `docs/schemas/` (asserted valid); the document and the validator,
/// to show that a changed document is caught.
#[cfg(test)]
pub fn checked_json<T: Serialize>(
    schema: Schema,
    value: &T,
) -> (serde_json::Value, jsonschema::Validator) {
    let text = json_text(schema, value).expect("serializable");
    assert!(text.starts_with(&format!("{{\n  \"schema\": \"{}\"", schema.id())));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schemas")
        .join(format!("{}.json", schema.id().replace('/', "-")));
    let text = std::fs::read_to_string(&file).expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    (doc, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns_and_trims() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["xyz".into(), "1".into()]);
        t.row(vec!["q".into()]);
        assert_eq!(t.render(), "A    LONGER\nxyz  1\nq\n");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(Bytes(512)), "512 B");
        assert_eq!(human(Bytes(268_435_456)), "256.0 MiB");
        assert_eq!(human(Bytes(3 * 1024 * 1024 * 1024 / 2)), "1.5 GiB");
    }
}
