//! Size newtypes: bytes and 512-byte sectors are never mixed as bare integers.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Size of a sector as the kernel's block layer counts them.
pub const SECTOR_SIZE: u64 = 512;

/// A size or offset in bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bytes(pub u64);

/// A size or offset in 512-byte sectors.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Sectors(pub u64);

impl Bytes {
    /// Whole sectors in this many bytes, rounded up.
    pub fn to_sectors_ceil(self) -> Sectors {
        Sectors(self.0.div_ceil(SECTOR_SIZE))
    }
}

impl Sectors {
    /// The same size in bytes (saturating; a sector count from the kernel fits).
    pub fn to_bytes(self) -> Bytes {
        Bytes(self.0.saturating_mul(SECTOR_SIZE))
    }
}

impl fmt::Display for Sectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// One kibibyte.
pub const KIB: u64 = 1024;
/// One mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;
/// One tebibyte.
pub const TIB: u64 = 1024 * GIB;

/// Units accepted after a size, largest first (the emitter picks the largest exact one).
const UNITS: [(&str, u64); 5] = [
    ("TiB", TIB),
    ("GiB", GIB),
    ("MiB", MIB),
    ("KiB", KIB),
    ("B", 1),
];

/// What a size may look like; quoted in every size error.
pub const SIZE_ACCEPTED: &str =
    "an integer with an optional unit B, KiB, MiB, GiB or TiB, e.g. 512MiB";

impl Bytes {
    /// Parse `N`, `NB`, `NKiB`, `NMiB`, `NGiB` or `NTiB` (binary units only, no
    /// fractions, no spaces). Zero is allowed here; callers that need a non-zero size
    /// say so themselves.
    pub fn parse(text: &str) -> Result<Bytes, ModelError> {
        let bad = |reason: String| ModelError::InvalidSize {
            given: text.to_string(),
            reason,
        };
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(digits_end);
        if digits.is_empty() {
            return Err(bad("it does not start with a number".to_string()));
        }
        let multiplier = if unit.is_empty() {
            1
        } else if let Some((_, m)) = UNITS.iter().find(|(u, _)| *u == unit) {
            *m
        } else {
            let hint = match unit {
                "K" | "k" | "KB" | "kB" => "; units are binary and spelled KiB",
                "M" | "MB" | "m" => "; units are binary and spelled MiB",
                "G" | "GB" | "g" => "; units are binary and spelled GiB",
                "T" | "TB" | "t" => "; units are binary and spelled TiB",
                _ if unit.starts_with('.') => "; fractions are not accepted, use a smaller unit",
                _ => "",
            };
            return Err(bad(format!("unknown unit `{unit}`{hint}")));
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| bad("the number is too large".to_string()))?;
        n.checked_mul(multiplier)
            .map(Bytes)
            .ok_or_else(|| bad("it does not fit in 64 bits of bytes".to_string()))
    }

    /// Whether this is a power of two (zero is not).
    pub fn is_power_of_two(self) -> bool {
        self.0.is_power_of_two()
    }
}

impl std::str::FromStr for Bytes {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bytes::parse(s)
    }
}

/// Canonical spelling with the largest unit that divides the size exactly (`1GiB`,
/// `1536MiB`, `512B`); [`Bytes::parse`] reads it back unchanged.
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        let (unit, m) = UNITS
            .iter()
            .find(|(_, m)| self.0.is_multiple_of(*m))
            .copied()
            .unwrap_or(("B", 1));
        write!(f, "{}{unit}", self.0 / m)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Bytes::parse("0").unwrap(), Bytes(0));
        assert_eq!(Bytes::parse("4096").unwrap(), Bytes(4096));
        assert_eq!(Bytes::parse("512B").unwrap(), Bytes(512));
        assert_eq!(Bytes::parse("4KiB").unwrap(), Bytes(4096));
        assert_eq!(Bytes::parse("256MiB").unwrap(), Bytes(256 * MIB));
        assert_eq!(Bytes::parse("1GiB").unwrap(), Bytes(GIB));
        assert_eq!(Bytes::parse("2TiB").unwrap(), Bytes(2 * TIB));
    }

    #[test]
    fn rejects_sloppy_sizes_with_a_reason() {
        for (text, fragment) in [
            ("", "does not start with a number"),
            ("GiB", "does not start with a number"),
            ("-1GiB", "does not start with a number"),
            ("1G", "spelled GiB"),
            ("1GB", "spelled GiB"),
            ("10k", "spelled KiB"),
            ("1.5GiB", "fractions"),
            ("1 GiB", "unknown unit ` GiB`"),
            ("1gib", "unknown unit `gib`"),
            ("99999999999999999999", "too large"),
            ("16777216TiB", "64 bits"),
        ] {
            let err = Bytes::parse(text).unwrap_err().to_string();
            assert!(err.contains(fragment), "{text:?}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for n in [
            1,
            511,
            512,
            4096,
            1536 * MIB,
            GIB,
            3 * TIB,
            u64::MAX,
            5 * TIB + 512,
        ] {
            let shown = Bytes(n).to_string();
            assert_eq!(Bytes::parse(&shown).unwrap(), Bytes(n), "{shown}");
        }
        assert_eq!(Bytes(1536 * MIB).to_string(), "1536MiB");
        assert_eq!(Bytes(GIB).to_string(), "1GiB");
        assert_eq!(Bytes(0).to_string(), "0B");
        assert_eq!(Bytes(1000).to_string(), "1000B");
    }

    #[test]
    fn sectors_round_up() {
        assert_eq!(Bytes(513).to_sectors_ceil(), Sectors(2));
        assert_eq!(Sectors(2).to_bytes(), Bytes(1024));
    }
}
