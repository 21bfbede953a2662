//! The device-mapper table grammar of every target dmclass uses, in one place
//! (issue #12): typed parameters per target, a [`TableLine`] and a [`Table`].
//!
//! Every type prints the exact text the kernel takes and prints back (`Display`) and
//! parses it (`FromStr`, or [`Target::parse`] for a target name and its parameters).
//! Parsing is total: text read back from the kernel is untrusted, so malformed input
//! is a [`ParseError`], never a panic, and nothing is allocated ahead of the words
//! actually present (a count word only bounds a loop that stops when words run out).
//!
//! Devices are a type parameter `D`: the table builders use symbolic references
//! (`tables::DevRef`), the kernel side [`DevNum`] (`major:minor`), and plans
//! [`Dev`], which also spells a device whose number is not known yet as `<name>`.
//! [`Emit`] writes parameters with a caller-supplied device writer, so a symbolic
//! table renders without an intermediate typed copy.
//!
//! This is a low module: it uses nothing of the engine but [`DevNum`].

mod line;
pub mod mirror;
pub mod raid;
pub mod snapshot;
pub mod striped;
#[cfg(test)]
mod tests;

pub use line::{Table, TableLine};
pub use mirror::{LogSync, Mirror, MirrorFeature, MirrorLog};
pub use raid::{Raid, RaidDev, RaidLevel, RaidOpt};
pub use snapshot::{Persistence, SnapFeature, Snapshot};
pub use striped::{DevOffset, Striped};

use crate::io::DevNum;
use dmclass_model::Sectors;
use std::fmt::{self, Display};
use std::str::FromStr;

/// Target type names this grammar knows, in [`Target`] order.
pub const TARGET_NAMES: [&str; 9] = [
    "linear",
    "striped",
    "raid",
    "mirror",
    "snapshot",
    "snapshot-origin",
    "snapshot-merge",
    "error",
    "zero",
];

/// Longest word quoted back in a [`ParseError`] (input may be arbitrarily long).
const QUOTE_MAX: usize = 64;

/// Why a table, line or parameter string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The words ran out before `what`.
    #[error("not enough arguments (expected {what})")]
    Missing {
        /// What was expected next.
        what: &'static str,
    },
    /// A word that should be a number is not one (or is out of range).
    #[error("bad value for {what}: {word:?}")]
    BadNumber {
        /// What the number is.
        what: &'static str,
        /// The word (truncated).
        word: String,
    },
    /// A word that should name a device does not.
    #[error("bad device {word:?}")]
    BadDevice {
        /// The word (truncated).
        word: String,
    },
    /// A keyword outside the grammar (raid option, log type, feature...).
    #[error("unknown {what} {word:?}")]
    Unknown {
        /// What kind of keyword.
        what: &'static str,
        /// The word (truncated).
        word: String,
    },
    /// A count that contradicts the words it counts.
    #[error("invalid {what} count {count}")]
    BadCount {
        /// What is counted.
        what: &'static str,
        /// The count given.
        count: u64,
    },
    /// A target type outside [`TARGET_NAMES`].
    #[error("unknown target type {0:?}")]
    UnknownTarget(String),
    /// Words left after a complete parameter list.
    #[error("unexpected argument {word:?}")]
    Trailing {
        /// The first extra word (truncated).
        word: String,
    },
    /// A table line does not start with `<start> <length> <target>`.
    #[error("table line {line}: {reason}")]
    Line {
        /// Line number (0-based).
        line: usize,
        /// The line's own error.
        reason: Box<ParseError>,
    },
}

/// `word`, cut to [`QUOTE_MAX`] bytes at a character boundary.
fn quote(word: &str) -> String {
    let mut end = word.len().min(QUOTE_MAX);
    while !word.is_char_boundary(end) {
        end -= 1;
    }
    word[..end].to_owned()
}

/// A device as a plan prints it: its number when known, else `<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dev {
    /// `major:minor`.
    Num(DevNum),
    /// A disk or dm device whose number is not known yet (`plan --tables`).
    Placeholder(String),
}

impl Display for Dev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dev::Num(n) => n.fmt(f),
            Dev::Placeholder(n) => write!(f, "<{n}>"),
        }
    }
}

impl FromStr for Dev {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            Some(n) if !n.is_empty() && !n.contains(['<', '>']) => {
                Ok(Dev::Placeholder(n.to_owned()))
            }
            Some(_) => Err(ParseError::BadDevice { word: quote(s) }),
            None => s.parse().map(Dev::Num),
        }
    }
}

impl FromStr for DevNum {
    type Err = ParseError;

    /// `major:minor`, both decimal `u32` (how the kernel prints devices in tables).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::BadDevice { word: quote(s) };
        let (ma, mi) = s.split_once(':').ok_or_else(bad)?;
        Ok(DevNum {
            major: ma.parse().map_err(|_| bad())?,
            minor: mi.parse().map_err(|_| bad())?,
        })
    }
}

/// What one table line maps to, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target<D> {
    /// `linear <dev> <offset>`.
    Linear(DevOffset<D>),
    /// `striped <#stripes> <chunk> (<dev> <offset>)...`.
    Striped(Striped<D>),
    /// dm-raid (`raid raid1 ...`).
    Raid(Raid<D>),
    /// dm-mirror with its dirty log.
    Mirror(Mirror<D>),
    /// `snapshot-origin <dev>`.
    SnapshotOrigin(D),
    /// `snapshot <origin> <cow> <P|PO|N> <chunk> [features]`.
    Snapshot(Snapshot<D>),
    /// `snapshot-merge`, the same parameters as `snapshot`, on the origin device.
    SnapshotMerge(Snapshot<D>),
    /// `error`, optionally `<dev> <offset>` (recent kernels take one to inherit
    /// queue limits).
    Error(Option<DevOffset<D>>),
    /// `zero`.
    Zero,
}

impl<D> Target<D> {
    /// The target type name (`raid`, `snapshot-origin`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Target::Linear(_) => "linear",
            Target::Striped(_) => "striped",
            Target::Raid(_) => "raid",
            Target::Mirror(_) => "mirror",
            Target::Snapshot(_) => "snapshot",
            Target::SnapshotOrigin(_) => "snapshot-origin",
            Target::SnapshotMerge(_) => "snapshot-merge",
            Target::Error(_) => "error",
            Target::Zero => "zero",
        }
    }

    /// Whether the parameter string has any word (`zero` and a bare `error` have
    /// none).
    pub fn has_params(&self) -> bool {
        !matches!(self, Target::Zero | Target::Error(None))
    }

    /// Writes the parameter string through `out` (devices through its writer).
    pub fn emit(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        match self {
            Target::Linear(l) | Target::Error(Some(l)) => l.emit(out),
            Target::Striped(s) => s.emit(out),
            Target::Raid(r) => r.emit(out),
            Target::Mirror(m) => m.emit(out),
            Target::SnapshotOrigin(d) => out.dev(d),
            Target::Snapshot(s) | Target::SnapshotMerge(s) => s.emit(out),
            Target::Error(None) | Target::Zero => Ok(()),
        }
    }

    /// The same target with every device turned into `f(device)`; the first error
    /// of `f` stops the mapping.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<Target<E>, X> {
        Ok(match self {
            Target::Linear(l) => Target::Linear(l.try_map(f)?),
            Target::Striped(s) => Target::Striped(s.try_map(f)?),
            Target::Raid(r) => Target::Raid(r.try_map(f)?),
            Target::Mirror(m) => Target::Mirror(m.try_map(f)?),
            Target::SnapshotOrigin(d) => Target::SnapshotOrigin(f(d)?),
            Target::Snapshot(s) => Target::Snapshot(s.try_map(f)?),
            Target::SnapshotMerge(s) => Target::SnapshotMerge(s.try_map(f)?),
            Target::Error(l) => Target::Error(l.as_ref().map(|l| l.try_map(f)).transpose()?),
            Target::Zero => Target::Zero,
        })
    }

    /// Whether `kernel` (read back) is what loading `self` gives: equal, except
    /// that raid lines follow [`raid::readback_matches`].
    pub fn readback_matches(&self, kernel: &Target<D>) -> bool
    where
        D: PartialEq,
    {
        match (self, kernel) {
            (Target::Raid(a), Target::Raid(b)) => raid::readback_matches(a, b),
            (a, b) => a == b,
        }
    }
}

impl<D: FromStr> Target<D> {
    /// Parses the parameter string `params` of a `target` line.
    pub fn parse(target: &str, params: &str) -> Result<Self, ParseError> {
        let mut w = Words::new(params);
        let t = match target {
            "linear" => Target::Linear(DevOffset::take(&mut w)?),
            "striped" => Target::Striped(Striped::take(&mut w)?),
            "raid" => Target::Raid(Raid::take(&mut w)?),
            "mirror" => Target::Mirror(Mirror::take(&mut w)?),
            "snapshot" => Target::Snapshot(Snapshot::take(&mut w)?),
            "snapshot-origin" => Target::SnapshotOrigin(w.dev()?),
            "snapshot-merge" => Target::SnapshotMerge(Snapshot::take(&mut w)?),
            "error" if w.is_empty() => Target::Error(None),
            "error" => Target::Error(Some(DevOffset::take(&mut w)?)),
            "zero" => Target::Zero,
            other => return Err(ParseError::UnknownTarget(quote(other))),
        };
        w.finish()?;
        Ok(t)
    }
}

impl<D: Display> Display for Target<D> {
    /// The parameter string (without the target name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |o| self.emit(o))
    }
}

/// `Display` (the kernel's words, through the type's `emit`) and `FromStr` (the whole
/// string through the type's `take`) for target parameter types generic over the
/// device reference.
macro_rules! text_impls {
    ($($t:ident),+) => {$(
        impl<D: std::fmt::Display> std::fmt::Display for $t<D> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                super::display(f, |o| self.emit(o))
            }
        }

        impl<D: std::str::FromStr> std::str::FromStr for $t<D> {
            type Err = super::ParseError;

            fn from_str(s: &str) -> Result<Self, super::ParseError> {
                super::parse_all(s, Self::take)
            }
        }
    )+};
}
pub(crate) use text_impls;

/// A device writer of [`Emit`].
pub type DevWriter<'a, D> = dyn FnMut(&D, &mut dyn fmt::Write) -> fmt::Result + 'a;

/// Writes parameter words separated by one space, devices through a writer.
pub struct Emit<'a, D> {
    out: &'a mut dyn fmt::Write,
    dev: &'a mut DevWriter<'a, D>,
    first: bool,
}

impl<'a, D> Emit<'a, D> {
    /// Words go to `out`; each device is written by `dev`.
    pub fn new(out: &'a mut dyn fmt::Write, dev: &'a mut DevWriter<'a, D>) -> Self {
        Emit {
            out,
            dev,
            first: true,
        }
    }

    fn sep(&mut self) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(' ')?;
        }
        Ok(())
    }

    /// A feature list as the kernel writes it: the count, then the words; nothing
    /// at all when the list is empty.
    pub fn features<W: Display>(&mut self, words: impl ExactSizeIterator<Item = W>) -> fmt::Result {
        if words.len() == 0 {
            return Ok(());
        }
        self.word(words.len())?;
        for w in words {
            self.word(w)?;
        }
        Ok(())
    }

    /// One word.
    pub fn word(&mut self, w: impl Display) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{w}")
    }

    /// A sector count, in decimal.
    pub fn sectors(&mut self, s: Sectors) -> fmt::Result {
        self.word(s.0)
    }

    /// One device.
    pub fn dev(&mut self, d: &D) -> fmt::Result {
        self.sep()?;
        (self.dev)(d, &mut *self.out)
    }

    /// A device or `-` for an absent one.
    pub fn opt_dev(&mut self, d: Option<&D>) -> fmt::Result {
        match d {
            Some(d) => self.dev(d),
            None => self.word('-'),
        }
    }
}

/// Runs `body` with an [`Emit`] writing to `f`, devices by their `Display` (the
/// `Display` of every parameter type).
pub(crate) fn display<D: Display>(
    f: &mut fmt::Formatter<'_>,
    body: impl FnOnce(&mut Emit<'_, D>) -> fmt::Result,
) -> fmt::Result {
    let mut dev = |d: &D, o: &mut dyn fmt::Write| write!(o, "{d}");
    body(&mut Emit::new(f, &mut dev))
}

/// The parameter words of one line.
pub(crate) struct Words<'a> {
    it: std::iter::Peekable<std::str::SplitWhitespace<'a>>,
}

impl<'a> Words<'a> {
    pub(crate) fn new(params: &'a str) -> Self {
        Words {
            it: params.split_whitespace().peekable(),
        }
    }

    /// No words left.
    pub(crate) fn is_empty(&mut self) -> bool {
        self.it.peek().is_none()
    }

    /// The next word, which must exist.
    pub(crate) fn word(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        self.it.next().ok_or(ParseError::Missing { what })
    }

    /// The next word as a number.
    pub(crate) fn num<T: FromStr>(&mut self, what: &'static str) -> Result<T, ParseError> {
        let w = self.word(what)?;
        w.parse().map_err(|_| ParseError::BadNumber {
            what,
            word: quote(w),
        })
    }

    /// The next word as a sector count.
    pub(crate) fn sectors(&mut self, what: &'static str) -> Result<Sectors, ParseError> {
        self.num(what).map(Sectors)
    }

    /// The next word as a device.
    pub(crate) fn dev<D: FromStr>(&mut self) -> Result<D, ParseError> {
        let w = self.word("device")?;
        w.parse()
            .map_err(|_| ParseError::BadDevice { word: quote(w) })
    }

    /// The next word as a device, `-` as `None`.
    pub(crate) fn opt_dev<D: FromStr>(&mut self) -> Result<Option<D>, ParseError> {
        if self.it.peek() == Some(&"-") {
            self.it.next();
            return Ok(None);
        }
        self.dev().map(Some)
    }

    /// Every word was used.
    pub(crate) fn finish(&mut self) -> Result<(), ParseError> {
        match self.it.next() {
            None => Ok(()),
            Some(w) => Err(ParseError::Trailing { word: quote(w) }),
        }
    }
}

/// Parses a whole parameter string with `take`, which must use every word.
pub(crate) fn parse_all<T>(
    s: &str,
    take: impl FnOnce(&mut Words<'_>) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let mut w = Words::new(s);
    let t = take(&mut w)?;
    w.finish()?;
    Ok(t)
}
