//! Where a volume's data lives: legs made of segments made of extents on disks.
//!
//! These types are shared by the allocator (which produces them), the on-disk
//! metadata (which stores them) and the table generator (which maps them).
//!
//! A volume has one leg (single disk, stripe, concat) or 2–8 legs (mirror). Every leg
//! has the same logical length. A leg's logical space is the concatenation of its
//! segments; a segment is either one linear extent or a striped set of equal-length
//! extents (one per column). Growing a volume appends segments (or lengthens the last
//! linear extent when the space right after it is free).

use dmclass_model::Sectors;
use serde::{Deserialize, Serialize};

/// A contiguous run of sectors on one registered disk (offsets from the disk start).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extent {
    /// Disk name within the class.
    pub disk: String,
    /// First sector on the disk.
    pub offset: Sectors,
    /// Length in sectors.
    pub len: Sectors,
}

impl Extent {
    /// One past the last sector.
    pub fn end(&self) -> Sectors {
        Sectors(self.offset.0.saturating_add(self.len.0))
    }
}

/// A piece of a leg's logical space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Segment {
    /// One extent mapped linearly.
    Linear {
        /// The extent.
        extent: Extent,
    },
    /// Equal-length extents striped in column order.
    Striped {
        /// Stripe chunk size (power of two, at least 8 sectors).
        chunk: Sectors,
        /// One extent per column, all the same length.
        columns: Vec<Extent>,
    },
}

impl Segment {
    /// Logical length of the segment.
    pub fn len(&self) -> Sectors {
        match self {
            Segment::Linear { extent } => extent.len,
            Segment::Striped { columns, .. } => Sectors(
                columns
                    .iter()
                    .fold(0u64, |acc, c| acc.saturating_add(c.len.0)),
            ),
        }
    }

    /// Whether the segment maps nothing.
    pub fn is_empty(&self) -> bool {
        self.len().0 == 0
    }

    /// The extents the segment occupies.
    pub fn extents(&self) -> Vec<&Extent> {
        match self {
            Segment::Linear { extent } => vec![extent],
            Segment::Striped { columns, .. } => columns.iter().collect(),
        }
    }
}

/// State of a slice (one leg of a volume), as GDS shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SliceState {
    /// In use and in sync.
    #[default]
    Active,
    /// Not started.
    Stop,
    /// Failed; needs recovery.
    Invalid,
    /// Being resynchronised.
    Copy,
    /// Detached (proxy or split leg).
    Temp,
    /// Unusable (disk missing or disabled).
    Nouse,
}

/// One mirror leg (or the only leg of an unmirrored volume).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Leg {
    /// dm-raid metadata sub-device (superblock + write-intent bitmap); raid1 only.
    pub rmeta: Option<Extent>,
    /// The leg's data, in logical order.
    pub segments: Vec<Segment>,
    /// Slice state.
    #[serde(default)]
    pub state: SliceState,
}

impl Leg {
    /// Logical length of the leg.
    pub fn len(&self) -> Sectors {
        Sectors(
            self.segments
                .iter()
                .fold(0u64, |acc, s| acc.saturating_add(s.len().0)),
        )
    }

    /// Whether the leg maps nothing.
    pub fn is_empty(&self) -> bool {
        self.len().0 == 0
    }

    /// Every extent the leg occupies (rmeta first).
    pub fn extents(&self) -> Vec<&Extent> {
        let mut out: Vec<&Extent> = self.rmeta.iter().collect();
        for s in &self.segments {
            out.extend(s.extents());
        }
        out
    }

    /// Disks the leg touches, in first-use order without repeats.
    pub fn disks(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in self.extents() {
            if !out.contains(&e.disk.as_str()) {
                out.push(&e.disk);
            }
        }
        out
    }
}

/// Where a whole volume lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct VolumeLayout {
    /// Legs (1 for unmirrored volumes).
    pub legs: Vec<Leg>,
    /// dm-mirror disk log (engine `mirror` with `jrm: true`).
    pub log: Option<Extent>,
}

impl VolumeLayout {
    /// Indexes of the legs that lack one of their disks (`is_present(disk)` false).
    pub fn legs_missing(&self, is_present: impl Fn(&str) -> bool) -> Vec<usize> {
        self.legs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.disks().iter().any(|d| !is_present(d)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Every extent the volume occupies.
    pub fn extents(&self) -> Vec<&Extent> {
        let mut out: Vec<&Extent> = Vec::new();
        for l in &self.legs {
            out.extend(l.extents());
        }
        out.extend(self.log.iter());
        out
    }

    /// Logical size: the length of the first leg (all legs are equal).
    pub fn len(&self) -> Sectors {
        self.legs.first().map_or(Sectors(0), Leg::len)
    }

    /// Whether the layout maps nothing.
    pub fn is_empty(&self) -> bool {
        self.len().0 == 0
    }
}
