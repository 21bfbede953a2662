//! A table line (`<start> <length> <target> <params>`) and a table (its lines).

use super::{display, quote, DevWriter, Emit, ParseError, Target};
use crate::io::TargetLine;
use dmclass_model::Sectors;
use std::fmt::{self, Display, Write as _};
use std::str::FromStr;

/// One line of a device-mapper table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableLine<D> {
    /// First sector of the device this line maps.
    pub start: Sectors,
    /// Sectors mapped.
    pub len: Sectors,
    /// Target type and parameters.
    pub target: Target<D>,
}

impl<D> TableLine<D> {
    /// Writes `<start> <length> <target> <params>` to `out`, devices through `dev`.
    pub fn write_with(&self, out: &mut dyn fmt::Write, dev: &mut DevWriter<'_, D>) -> fmt::Result {
        write!(
            out,
            "{} {} {}",
            self.start.0,
            self.len.0,
            self.target.name()
        )?;
        // The parameters follow one space after the name, also when there are none
        // (`0 8 zero `), as `dmsetup table` prints them.
        out.write_char(' ')?;
        self.target.emit(&mut Emit::new(out, dev))
    }

    /// The same line with every device turned into `f(dev)`.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<TableLine<E>, X> {
        Ok(TableLine {
            start: self.start,
            len: self.len,
            target: self.target.try_map(f)?,
        })
    }

    /// Parses a line as the kernel interface carries it (target name and parameter
    /// string apart).
    pub fn from_target_line(l: &TargetLine) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        Ok(TableLine {
            start: l.start,
            len: l.len,
            target: Target::parse(&l.target, &l.params)?,
        })
    }

    /// The line as the kernel interface carries it.
    pub fn to_target_line(&self) -> TargetLine
    where
        D: Display,
    {
        TargetLine {
            start: self.start,
            len: self.len,
            target: self.target.name().to_owned(),
            params: self.target.to_string(),
        }
    }

    /// Whether `kernel` (read back) is this line as loaded: same place and length,
    /// and [`Target::readback_matches`].
    pub fn readback_matches(&self, kernel: &TableLine<D>) -> bool
    where
        D: PartialEq,
    {
        self.start == kernel.start
            && self.len == kernel.len
            && self.target.readback_matches(&kernel.target)
    }
}

impl<D: Display> Display for TableLine<D> {
    /// `<start> <length> <target> <params>` (no trailing space when there are no
    /// parameters).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.start.0, self.len.0, self.target.name())?;
        if !self.target.has_params() {
            return Ok(());
        }
        f.write_char(' ')?;
        display(f, |o| self.target.emit(o))
    }
}

/// Splits off the first whitespace-separated word of `s`.
fn first_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

impl<D: FromStr> FromStr for TableLine<D> {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (start, rest) = first_word(s).ok_or(ParseError::Missing { what: "start" })?;
        let (len, rest) = first_word(rest).ok_or(ParseError::Missing { what: "length" })?;
        let (target, params) = first_word(rest).ok_or(ParseError::Missing { what: "target" })?;
        let num = |what, w: &str| {
            w.parse().map(Sectors).map_err(|_| ParseError::BadNumber {
                what,
                word: quote(w),
            })
        };
        Ok(TableLine {
            start: num("start", start)?,
            len: num("length", len)?,
            target: Target::parse(target, params)?,
        })
    }
}

/// A device-mapper table: its lines in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table<D> {
    /// The lines.
    pub lines: Vec<TableLine<D>>,
}

impl<D> Table<D> {
    /// Parses the lines the kernel interface carries.
    pub fn from_target_lines(lines: &[TargetLine]) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| TableLine::from_target_line(l).map_err(|e| at_line(i, e)))
            .collect::<Result<_, _>>()
            .map(|lines| Table { lines })
    }

    /// The lines as the kernel interface carries them.
    pub fn to_target_lines(&self) -> Vec<TargetLine>
    where
        D: Display,
    {
        self.lines.iter().map(TableLine::to_target_line).collect()
    }

    /// Whether `kernel` (read back) is this table as loaded, line by line
    /// ([`TableLine::readback_matches`]).
    pub fn readback_matches(&self, kernel: &Table<D>) -> bool
    where
        D: PartialEq,
    {
        self.lines.len() == kernel.lines.len()
            && self
                .lines
                .iter()
                .zip(&kernel.lines)
                .all(|(a, b)| a.readback_matches(b))
    }
}

fn at_line(line: usize, e: ParseError) -> ParseError {
    ParseError::Line {
        line,
        reason: Box::new(e),
    }
}

impl<D: Display> Display for Table<D> {
    /// One line per entry, each `\n`-terminated (`dmsetup table`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

impl<D: FromStr> FromStr for Table<D> {
    type Err = ParseError;

    /// Lines separated by `\n`; blank lines are skipped.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        s.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| l.parse().map_err(|e| at_line(i, e)))
            .collect::<Result<_, _>>()
            .map(|lines| Table { lines })
    }
}
