//! dm-snapshot: `snapshot` and `snapshot-merge` take
//! `<origin> <cow> <P|PO|N> <chunk> [<#features> <feature>...]`
//! (`snapshot-origin <dev>` is a bare device, [`super::Target::SnapshotOrigin`]).

use super::{quote, Emit, ParseError, Words};
use dmclass_model::Sectors;
use std::fmt::{self};
use std::str::FromStr;

/// Exception store kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// `P`: persistent (what dmclass and LVM use).
    Persistent,
    /// `PO`: persistent, overflow allowed.
    PersistentOverflow,
    /// `N`: transient.
    Transient,
}

impl Persistence {
    fn word(self) -> &'static str {
        match self {
            Persistence::Persistent => "P",
            Persistence::PersistentOverflow => "PO",
            Persistence::Transient => "N",
        }
    }
}

/// A dm-snapshot feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapFeature {
    /// `discard_zeroes_cow`.
    DiscardZeroesCow,
    /// `discard_passdown_origin`.
    DiscardPassdownOrigin,
}

impl SnapFeature {
    fn word(self) -> &'static str {
        match self {
            SnapFeature::DiscardZeroesCow => "discard_zeroes_cow",
            SnapFeature::DiscardPassdownOrigin => "discard_passdown_origin",
        }
    }
}

/// A `snapshot` / `snapshot-merge` table's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Snapshot<D> {
    /// The origin's `-real` device.
    pub origin: D,
    /// The COW store.
    pub cow: D,
    /// Exception store kind.
    pub persistence: Persistence,
    /// Chunk size (0 asks the kernel for its default).
    pub chunk: Sectors,
    /// Features (none printed when empty).
    pub features: Vec<SnapFeature>,
}

impl<D> Snapshot<D> {
    /// Reads the parameters.
    pub(crate) fn take(w: &mut Words<'_>) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        let origin = w.dev()?;
        let cow = w.dev()?;
        let persistence = match w.word("persistence")? {
            "P" => Persistence::Persistent,
            "PO" => Persistence::PersistentOverflow,
            "N" => Persistence::Transient,
            o => {
                return Err(ParseError::Unknown {
                    what: "persistence",
                    word: quote(o),
                })
            }
        };
        let chunk = w.sectors("chunk size")?;
        let mut features = Vec::new();
        if !w.is_empty() {
            let nf: u64 = w.num("feature count")?;
            for _ in 0..nf {
                features.push(match w.word("feature")? {
                    "discard_zeroes_cow" => SnapFeature::DiscardZeroesCow,
                    "discard_passdown_origin" => SnapFeature::DiscardPassdownOrigin,
                    o => {
                        return Err(ParseError::Unknown {
                            what: "snapshot feature",
                            word: quote(o),
                        })
                    }
                });
            }
        }
        Ok(Snapshot {
            origin,
            cow,
            persistence,
            chunk,
            features,
        })
    }

    /// Writes the parameters.
    pub fn emit(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        out.dev(&self.origin)?;
        out.dev(&self.cow)?;
        out.word(self.persistence.word())?;
        out.sectors(self.chunk)?;
        out.features(self.features.iter().map(|f| f.word()))
    }

    /// The same with both devices turned into `f(dev)`.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<Snapshot<E>, X> {
        Ok(Snapshot {
            origin: f(&self.origin)?,
            cow: f(&self.cow)?,
            persistence: self.persistence,
            chunk: self.chunk,
            features: self.features.clone(),
        })
    }
}

super::text_impls!(Snapshot);
