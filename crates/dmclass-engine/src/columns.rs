//! Text tables for people: columns as wide as their widest cell (a long name never
//! shifts the columns after it), a dashed rule under the header, and sizes in binary
//! units as `lsblk` prints them. Scripts read `--json`, which carries exact bytes.

use std::fmt::Write as _;

/// One table: a header and rows, rendered by [`Columns::render`].
#[derive(Debug, Clone, Default)]
pub struct Columns {
    head: Vec<&'static str>,
    rows: Vec<Row>,
}

#[derive(Debug, Clone)]
enum Row {
    Cells(Vec<String>),
    /// A line under the previous row, indented past the first column.
    Note(String),
}

impl Columns {
    /// A table with these column titles.
    pub fn new(head: &[&'static str]) -> Columns {
        Columns {
            head: head.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Row::Cells(cells));
    }

    /// Adds a line of text under the previous row.
    pub fn note(&mut self, text: String) {
        self.rows.push(Row::Note(text));
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table, each line ending in a newline; the last column is not padded.
    pub fn render(&self) -> String {
        let n = self.head.len();
        let mut width: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            if let Row::Cells(c) = r {
                for (w, cell) in width.iter_mut().zip(c) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.zip(&width).enumerate() {
                if i + 1 == n {
                    s.push_str(cell);
                } else {
                    let _ = write!(s, "{cell:<w$} ");
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };
        let mut out = line(&mut self.head.iter().copied());
        let rules: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&mut rules.iter().map(String::as_str)));
        let indent = width.first().map_or(0, |w| w + 1);
        for r in &self.rows {
            match r {
                Row::Cells(c) => {
                    let mut cells = c.iter().map(String::as_str).chain(std::iter::repeat(""));
                    out.push_str(&line(&mut (&mut cells).take(n)));
                }
                Row::Note(t) => {
                    out.push_str(&" ".repeat(indent));
                    out.push_str(t);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// A size in binary units with one decimal when not whole, as `lsblk` prints it:
/// `512M`, `8G`, `1.5G`, `232.9G`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut unit = 0;
    let mut scale = 1u64;
    while unit + 1 < UNITS.len() && bytes / scale >= 1024 {
        scale *= 1024;
        unit += 1;
    }
    if bytes.is_multiple_of(scale) {
        return format!("{}{}", bytes / scale, UNITS[unit]);
    }
    // u64 → f64 loses precision only above 2^53 bytes (8 PiB): one decimal is shown.
    #[allow(clippy::cast_precision_loss)]
    let v = bytes as f64 / scale as f64;
    format!("{v:.1}{}", UNITS[unit])
}

/// A resync percentage for a column: `42.5%`, or `-` when nothing is copied.
pub fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_widest_cell() {
        let mut t = Columns::new(&["OBJ", "NAME", "STATUS"]);
        t.row(vec![
            "proxy".into(),
            "a-very-long-proxy".into(),
            "JOINED".into(),
        ]);
        t.row(vec!["proxy".into(), "p".into(), "PARTED".into()]);
        t.note("reason: why".into());
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "OBJ   NAME              STATUS");
        assert_eq!(lines[1], "----- ----------------- ------");
        assert_eq!(lines[2], "proxy a-very-long-proxy JOINED");
        assert_eq!(lines[3], "proxy p                 PARTED");
        assert_eq!(lines[4], "      reason: why");
        // every STATUS starts in the same column
        let col = lines[0].find("STATUS").unwrap_or(0);
        assert!(lines[2..4]
            .iter()
            .all(|l| l.find(['J', 'P']).is_some_and(|c| c >= col)));
    }

    #[test]
    fn sizes_read_like_lsblk() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(512 << 20), "512M");
        assert_eq!(human_size(8 << 30), "8G");
        assert_eq!(human_size(3 << 29), "1.5G");
        assert_eq!(human_size(250_059_350_016), "232.9G");
        assert_eq!(percent(Some(42.25)), "42.2%");
        assert_eq!(percent(None), "-");
    }
}
