//! The device spec an action works on, built when it is needed.
//!
//! A new volume has several devices (raid1: two `rmeta`, two `rimage` and the top),
//! each a [`DeviceSpec`] of a dozen small allocations; a plan of a large class held
//! hundreds of thousands of them. A plain new volume's actions now share one copy of
//! the class description (also the plan's last metadata write) and name a device by
//! volume and position ([`SpecRef::Lazy`]): the spec is built from the description when the executor or
//! `--tables` needs it, and names, UUIDs and load summaries are written from the
//! description directly. What is built is what [`volume_devices`] returns, so plans,
//! tables and apply are unchanged.

use super::devices::activation;
use crate::error::{EngineError, Result};
use crate::layout::Segment;
use crate::metadata::{ClassMeta, EngineMeta, VolumeMeta};
use crate::names::{dm_name, dm_uuid, Layer};
use crate::tables::{volume_devices, DeviceSpec};
use dmclass_model::Sectors;
use std::borrow::Cow;
use std::rc::Rc;

/// Every device of volume `vol` of `meta`, as [`super::devices::specs`] builds them
/// for a volume that is no proxy master and has no leg on another node's disk (those
/// are built for their node at once: plan/order.rs).
pub(crate) fn devices(meta: &ClassMeta, vol: &VolumeMeta) -> Result<Vec<DeviceSpec>> {
    volume_devices(&meta.name, meta.uuid, vol, &activation(meta, vol, None))
}

/// The layers of [`devices`], in the same order (children first).
pub(crate) fn layers(vol: &VolumeMeta) -> Vec<Layer> {
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
    /// Volume `.1` of the class, its device number `.2` (layer `.3`, packed): built
    /// when needed. The class is one copy shared by the whole plan.
    Lazy(Rc<ClassMeta>, u32, u8, u8),
}

/// Where the load summary of a device comes from: one target, or one per segment.
pub(crate) enum Targets<'a> {
    /// A single line of this target.
    One(&'static str),
    /// One line per segment (`linear` / `striped`).
    Segments(&'a [Segment]),
}

impl SpecRef {
    /// References to every device (`layers`) of volume `vol` of `meta`, children
    /// first; `None` when one does not fit the packed form (then the caller builds
    /// the specs).
    pub(crate) fn lazy_all(
        meta: &Rc<ClassMeta>,
        vol: usize,
        layers: &[Layer],
    ) -> Option<Vec<SpecRef>> {
        let v = u32::try_from(vol).ok()?;
        layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Some(SpecRef::Lazy(
                    Rc::clone(meta),
                    v,
                    u8::try_from(i).ok()?,
                    pack(*l)?,
                ))
            })
            .collect()
    }

    /// The class and volume of a lazy reference.
    pub(crate) fn lazy_vol(&self) -> Option<(&Rc<ClassMeta>, &VolumeMeta)> {
        match self {
            SpecRef::Lazy(meta, v, ..) => Some((meta, meta.volumes.get(*v as usize)?)),
            SpecRef::Built(_) => None,
        }
    }

    /// The spec (built now for a lazy reference).
    pub(crate) fn get(&self) -> Result<Cow<'_, DeviceSpec>> {
        match (self, self.lazy_vol()) {
            (SpecRef::Built(s), _) => Ok(Cow::Borrowed(s)),
            (SpecRef::Lazy(_, _, i, _), Some((meta, vol))) => devices(meta, vol)?
                .into_iter()
                .nth(usize::from(*i))
                .map(Cow::Owned)
                .ok_or_else(|| {
                    EngineError::InvalidLayout(format!("volume {}: no device {i}", vol.name))
                }),
            (SpecRef::Lazy(..), None) => Err(EngineError::InvalidLayout(
                "a planned device refers to no volume".into(),
            )),
        }
    }

    /// dm name (checked when the plan was made).
    pub(crate) fn name(&self) -> Cow<'_, str> {
        match self {
            SpecRef::Built(s) => Cow::Borrowed(&s.name),
            SpecRef::Lazy(meta, _, _, l) => Cow::Owned(
                self.lazy_vol()
                    .and_then(|(_, v)| dm_name(&meta.name, &v.name, unpack(*l)).ok())
                    .unwrap_or_default(),
            ),
        }
    }

    /// dm UUID.
    pub(crate) fn uuid(&self) -> Cow<'_, str> {
        match self {
            SpecRef::Built(s) => Cow::Borrowed(&s.uuid),
            SpecRef::Lazy(meta, _, _, l) => Cow::Owned(
                self.lazy_vol()
                    .map(|(_, v)| dm_uuid(meta.uuid, v.uuid, unpack(*l)))
                    .unwrap_or_default(),
            ),
        }
    }

    /// Hidden from udev.
    pub(crate) fn hidden(&self) -> bool {
        match self {
            SpecRef::Built(s) => s.hidden,
            SpecRef::Lazy(_, _, _, l) => unpack(*l).hidden(),
        }
    }

    /// The targets and length of a lazy device's table, from the description
    /// (`None` for a built spec: read its table).
    pub(crate) fn lazy_summary(&self) -> Option<(Targets<'_>, Sectors)> {
        let (SpecRef::Lazy(_, _, _, l), Some((_, vol))) = (self, self.lazy_vol()) else {
            return None;
        };
        let layout = &vol.layout;
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
                Targets::One(match vol.engine {
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
            (SpecRef::Lazy(m, v, d, l), SpecRef::Lazy(m2, v2, d2, l2)) if Rc::ptr_eq(m, m2) => {
                (v, d, l) == (v2, d2, l2)
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
