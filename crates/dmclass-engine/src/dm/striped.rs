//! `linear` (a device and an offset, also the unit of `striped`, mirror legs and
//! `error`) and `striped`.

use super::{Emit, ParseError, Words};
use dmclass_model::Sectors;
use std::fmt::{self};
use std::str::FromStr;

/// `<dev> <offset>`: the `linear` target's parameters, one stripe, one mirror leg.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DevOffset<D> {
    /// The device mapped to.
    pub dev: D,
    /// First sector used on it.
    pub offset: Sectors,
}

impl<D> DevOffset<D> {
    /// Reads `<dev> <offset>`.
    pub(crate) fn take(w: &mut Words<'_>) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        Ok(DevOffset {
            dev: w.dev()?,
            offset: w.sectors("offset")?,
        })
    }

    /// Writes `<dev> <offset>`.
    pub fn emit(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        out.dev(&self.dev)?;
        out.sectors(self.offset)
    }

    /// The same with the device turned into `f(dev)`.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<DevOffset<E>, X> {
        Ok(DevOffset {
            dev: f(&self.dev)?,
            offset: self.offset,
        })
    }
}

/// `striped <#stripes> <chunk> (<dev> <offset>)...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Striped<D> {
    /// Chunk size.
    pub chunk: Sectors,
    /// The stripes, in order.
    pub stripes: Vec<DevOffset<D>>,
}

impl<D> Striped<D> {
    /// Reads the parameters.
    pub(crate) fn take(w: &mut Words<'_>) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        let n: u64 = w.num("stripe count")?;
        let chunk = w.sectors("chunk size")?;
        let mut stripes = Vec::new();
        // No allocation from `n`: each stripe needs its own words.
        for _ in 0..n {
            stripes.push(DevOffset::take(w)?);
        }
        Ok(Striped { chunk, stripes })
    }

    /// Writes the parameters.
    pub fn emit(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        out.word(self.stripes.len())?;
        out.sectors(self.chunk)?;
        self.stripes.iter().try_for_each(|s| s.emit(out))
    }

    /// The same with every device turned into `f(dev)`.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<Striped<E>, X> {
        Ok(Striped {
            chunk: self.chunk,
            stripes: self
                .stripes
                .iter()
                .map(|s| s.try_map(f))
                .collect::<Result<_, _>>()?,
        })
    }
}

super::text_impls!(DevOffset, Striped);
