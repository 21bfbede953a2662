//! Size newtypes: bytes and 512-byte sectors are never mixed as bare integers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Size of a sector as the kernel's block layer counts them.
pub const SECTOR_SIZE: u64 = 512;

/// A size or offset in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

/// A size or offset in 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
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
