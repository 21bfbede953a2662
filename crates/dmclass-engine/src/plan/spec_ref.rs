//! The device spec an action works on, built when it is needed.
//!
//! A new volume has several devices (raid1: two `rmeta`, two `rimage` and the top),
//! each a [`DeviceSpec`] of a dozen small allocations; a plan of a large class held
//! hundreds of thousands of them. A plain new volume's actions now share one copy of
//! its description ([`VolSrc`]) and name a device of it by position
//! ([`SpecRef::Lazy`]): the spec is built from the description when the executor or
//! `--tables` needs it, and names, UUIDs and load summaries are written from the
//! description directly. What is built is what [`volume_devices`] returns, so plans,
//! tables and apply are unchanged.

use super::steps::activation;
use crate::error::{EngineError, Result};
use crate::layout::Segment;
use crate::metadata::{EngineMeta, VolumeMeta};
use crate::names::{dm_name, dm_uuid, Layer};
use crate::tables::{volume_devices, DeviceSpec};
use dmclass_model::Sectors;
use std::borrow::Cow;
use std::rc::Rc;
use uuid::Uuid;

/// What a new volume's devices are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolSrc {
    /// Class name (shared by every volume of the plan).
    pub(crate) class: Rc<str>,
    /// Class UUID.
    pub(crate) class_uuid: Uuid,
    /// The volume as recorded (no proxy leg: proxy masters get built specs).
    pub(crate) vol: VolumeMeta,
}

impl VolSrc {
    /// Every device of the volume, as [`super::steps::specs`] builds them.
    pub(crate) fn devices(&self) -> Result<Vec<DeviceSpec>> {
        volume_devices(
            &self.class,
            self.class_uuid,
            &self.vol,
            &activation(&self.vol),
        )
    }

    /// The layers of [`VolSrc::devices`], in the same order (children first).
    pub(crate) fn layers(&self) -> Vec<Layer> {
        let vol = &self.vol;
        let legs = &vol.layout.legs;
        let mut out = Vec::with_capacity(2 * legs.len() + 1);
        if legs.len() > 1 {
            match vol.engine {
                EngineMeta::Raid1 => {
                    for (i, leg) in legs.iter().enumerate() {
                        if leg.rmeta.is_some() {
                            out.push(Layer::Rmeta(i));
                        }
                        out.push(Layer::Rimage(i));
                    }
                }
                EngineMeta::Mirror => {
                    if vol.layout.log.is_some() && vol.jrm {
                        out.push(Layer::Mlog);
                    }
                    for (i, leg) in legs.iter().enumerate() {
                        if !matches!(leg.segments.as_slice(), [Segment::Linear { .. }]) {
                            out.push(Layer::Mimage(i));
                        }
                    }
                }
            }
        }
        out.push(Layer::Top);
        out
    }
}

/// A [`Layer`] in one byte (leg numbers below 32).
fn pack(l: Layer) -> Option<u8> {
    let (kind, n) = match l {
        Layer::Top => (0, 0),
        Layer::Rimage(n) => (1, n),
        Layer::Rmeta(n) => (2, n),
        Layer::Mimage(n) => (3, n),
        Layer::Mlog => (4, 0),
        Layer::Real => (5, 0),
        Layer::Cow => (6, 0),
    };
    let n = u8::try_from(n).ok().filter(|n| *n < 32)?;
    Some(kind << 5 | n)
}

/// The layer [`pack`] made `c` from.
fn unpack(c: u8) -> Layer {
    let n = usize::from(c & 31);
    match c >> 5 {
        1 => Layer::Rimage(n),
        2 => Layer::Rmeta(n),
        3 => Layer::Mimage(n),
        4 => Layer::Mlog,
        5 => Layer::Real,
        6 => Layer::Cow,
        _ => Layer::Top,
    }
}

/// The device an action works on.
#[derive(Debug, Clone)]
pub(crate) enum SpecRef {
    /// A spec built when planning (changed stacks, snapshots, proxy masters).
    Built(Rc<DeviceSpec>),
    /// Device number `.1` of the volume (layer `.2`, packed): built when needed.
    Lazy(Rc<VolSrc>, u8, u8),
}

/// Where the load summary of a device comes from: one target, or one per segment.
pub(crate) enum Targets<'a> {
    /// A single line of this target.
    One(&'static str),
    /// One line per segment (`linear` / `striped`).
    Segments(&'a [Segment]),
}

impl SpecRef {
    /// References to every device of `src`, children first; `None` when a layer does
    /// not fit the packed form (then the caller builds the specs).
    pub(crate) fn lazy_all(src: &Rc<VolSrc>) -> Option<Vec<SpecRef>> {
        src.layers()
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                Some(SpecRef::Lazy(
                    Rc::clone(src),
                    u8::try_from(i).ok()?,
                    pack(l)?,
                ))
            })
            .collect()
    }

    /// The spec (built now for a lazy reference).
    pub(crate) fn get(&self) -> Result<Cow<'_, DeviceSpec>> {
        match self {
            SpecRef::Built(s) => Ok(Cow::Borrowed(s)),
            SpecRef::Lazy(src, i, _) => src
                .devices()?
                .into_iter()
                .nth(usize::from(*i))
                .map(Cow::Owned)
                .ok_or_else(|| {
                    EngineError::InvalidLayout(format!("volume {}: no device {i}", src.vol.name))
                }),
        }
    }

    /// dm name (checked when the plan was made).
    pub(crate) fn name(&self) -> Cow<'_, str> {
        match self {
            SpecRef::Built(s) => Cow::Borrowed(&s.name),
            SpecRef::Lazy(src, _, l) => {
                Cow::Owned(dm_name(&src.class, &src.vol.name, unpack(*l)).unwrap_or_default())
            }
        }
    }

    /// dm UUID.
    pub(crate) fn uuid(&self) -> Cow<'_, str> {
        match self {
            SpecRef::Built(s) => Cow::Borrowed(&s.uuid),
            SpecRef::Lazy(src, _, l) => {
                Cow::Owned(dm_uuid(src.class_uuid, src.vol.uuid, unpack(*l)))
            }
        }
    }

    /// Hidden from udev.
    pub(crate) fn hidden(&self) -> bool {
        match self {
            SpecRef::Built(s) => s.hidden,
            SpecRef::Lazy(_, _, l) => unpack(*l).hidden(),
        }
    }

    /// The targets and length of a lazy device's table, from the description
    /// (`None` for a built spec: read its table).
    pub(crate) fn lazy_summary(&self) -> Option<(Targets<'_>, Sectors)> {
        let SpecRef::Lazy(src, _, l) = self else {
            return None;
        };
        let layout = &src.vol.layout;
        let leg = |i: usize| layout.legs.get(i);
        let segs = |i: usize| leg(i).map(|g| (Targets::Segments(g.segments.as_slice()), g.len()));
        match unpack(*l) {
            Layer::Rmeta(i) => leg(i)
                .and_then(|g| g.rmeta.as_ref())
                .map(|e| (Targets::One("linear"), e.len)),
            Layer::Rimage(i) | Layer::Mimage(i) => segs(i),
            Layer::Mlog => layout.log.as_ref().map(|e| (Targets::One("linear"), e.len)),
            Layer::Top if layout.legs.len() == 1 => segs(0),
            Layer::Top => Some((
                Targets::One(match src.vol.engine {
                    EngineMeta::Raid1 => "raid",
                    EngineMeta::Mirror => "mirror",
                }),
                layout.len(),
            )),
            Layer::Real | Layer::Cow => None,
        }
    }
}

impl From<Rc<DeviceSpec>> for SpecRef {
    fn from(s: Rc<DeviceSpec>) -> SpecRef {
        SpecRef::Built(s)
    }
}

impl PartialEq for SpecRef {
    fn eq(&self, other: &SpecRef) -> bool {
        match (self, other) {
            (SpecRef::Built(a), SpecRef::Built(b)) => a == b,
            (SpecRef::Lazy(src, dev, layer), SpecRef::Lazy(src2, dev2, layer2)) => {
                (src, dev, layer) == (src2, dev2, layer2)
            }
            _ => match (self.get(), other.get()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl Eq for SpecRef {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_pack_and_unpack() {
        for l in [
            Layer::Top,
            Layer::Rimage(3),
            Layer::Rmeta(31),
            Layer::Mimage(0),
            Layer::Mlog,
            Layer::Real,
            Layer::Cow,
        ] {
            assert_eq!(pack(l).map(unpack), Some(l));
        }
        assert_eq!(pack(Layer::Rimage(32)), None);
    }
}
