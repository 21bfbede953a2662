//! The text of an action (`object`, `detail`), built when it is shown.
//!
//! A plan for a large class has hundreds of thousands of actions; most of their text
//! is a dm name, a UUID or a table summary of a device spec the action shares anyway.
//! [`Text`] keeps a reference to what it is made of and writes the words only when
//! displayed or serialized (the JSON is the same string as before).

use super::spec_ref::{SpecRef, Targets};
use crate::metadata::ClassMeta;
use crate::tables::DeviceSpec;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::rc::Rc;

/// The text of an action, rendered on demand ([`fmt::Display`], JSON string).
/// Texts compare by their words, whatever they are built from.
#[derive(Clone)]
pub struct Text(Repr);

///
/// Every variant is one pointer (a text is two words): a plan holds two per action.
#[derive(Clone)]
enum Repr {
    Static(&'static &'static str),
    #[allow(clippy::box_collection)] // one pointer, not three: keeps a text two words
    Owned(Box<String>),
    /// A name shared by many actions (a disk of many zeroed extents).
    Shared(Rc<String>),
    /// The device's dm name.
    Name(Rc<DeviceSpec>),
    /// The device's dm UUID.
    Uuid(Rc<DeviceSpec>),
    /// `raid (64 MiB, 131072 sectors)`: the targets and size of the device's table.
    Summary(Rc<DeviceSpec>),
    /// [`Repr::Name`] of a device built when needed ([`SpecRef::Lazy`]).
    LazyName(Rc<ClassMeta>, u32, u8, u8),
    /// [`Repr::Uuid`] of a device built when needed.
    LazyUuid(Rc<ClassMeta>, u32, u8, u8),
    /// [`Repr::Summary`] of a device built when needed.
    LazySummary(Rc<ClassMeta>, u32, u8, u8),
    /// What a new volume's metadata extent zeroing does ([`Text::zero`]).
    Zero(Rc<ClassMeta>, u32, u8),
}

impl Text {
    /// The dm name of `spec`.
    pub(crate) fn name(spec: &SpecRef) -> Text {
        Text(match spec {
            SpecRef::Built(s) => Repr::Name(Rc::clone(s)),
            SpecRef::Lazy(m, v, i, l) => Repr::LazyName(Rc::clone(m), *v, *i, *l),
        })
    }

    /// The dm UUID of `spec`.
    pub(crate) fn uuid(spec: &SpecRef) -> Text {
        Text(match spec {
            SpecRef::Built(s) => Repr::Uuid(Rc::clone(s)),
            SpecRef::Lazy(m, v, i, l) => Repr::LazyUuid(Rc::clone(m), *v, *i, *l),
        })
    }

    /// The load summary of `spec` (targets, size).
    pub(crate) fn summary(spec: &SpecRef) -> Text {
        Text(match spec {
            SpecRef::Built(s) => Repr::Summary(Rc::clone(s)),
            SpecRef::Lazy(m, v, i, l) => Repr::LazySummary(Rc::clone(m), *v, *i, *l),
        })
    }

    /// `volume v leg 0 rmeta: 4194304 bytes at byte 33554432`: the zeroing of leg
    /// `leg`'s rmeta (`u8::MAX`: the mirror log) of volume `vol` of `meta`.
    pub(crate) fn zero(meta: &Rc<ClassMeta>, vol: u32, leg: u8) -> Text {
        Text(Repr::Zero(Rc::clone(meta), vol, leg))
    }

    /// The device a lazy text is made from.
    fn lazy(&self) -> Option<SpecRef> {
        match &self.0 {
            Repr::LazyName(m, v, i, l)
            | Repr::LazyUuid(m, v, i, l)
            | Repr::LazySummary(m, v, i, l) => Some(SpecRef::Lazy(Rc::clone(m), *v, *i, *l)),
            _ => None,
        }
    }

    /// Shared text.
    pub(crate) fn shared(s: &Rc<String>) -> Text {
        Text(Repr::Shared(Rc::clone(s)))
    }

    /// Fixed text (`Text::fixed(&"public")`).
    pub(crate) fn fixed(s: &'static &'static str) -> Text {
        Text(Repr::Static(s))
    }

    /// The text when it is stored as it is (not built from a device spec).
    fn stored(&self) -> Option<&str> {
        match &self.0 {
            Repr::Static(s) => Some(s),
            Repr::Owned(s) => Some(s),
            Repr::Shared(s) => Some(s),
            Repr::Name(spec) => Some(&spec.name),
            Repr::Uuid(spec) => Some(&spec.uuid),
            Repr::Summary(_)
            | Repr::LazyName(..)
            | Repr::LazyUuid(..)
            | Repr::LazySummary(..)
            | Repr::Zero(..) => None,
        }
    }

    /// The words (borrowed unless built from a device spec).
    pub fn as_cow(&self) -> Cow<'_, str> {
        self.stored()
            .map_or_else(|| Cow::Owned(self.to_string()), Cow::Borrowed)
    }

    /// Whether the text contains `pat`.
    pub fn contains(&self, pat: &str) -> bool {
        self.as_cow().contains(pat)
    }

    /// Append `tail` to the text.
    pub(crate) fn push_str(&mut self, tail: &str) {
        let mut s = self.to_string();
        s.push_str(tail);
        *self = Text::from(s);
    }

    /// Replace the first `from` by `to`.
    pub(crate) fn replacen(&mut self, from: &str, to: &str) {
        if self.contains(from) {
            *self = Text::from(self.to_string().replacen(from, to, 1));
        }
    }
}

fn mib(sectors: u64) -> (u64, &'static str) {
    let b = sectors * 512;
    if b.is_multiple_of(1 << 30) {
        (b >> 30, "GiB")
    } else {
        (b >> 20, "MiB")
    }
}

/// `raid+linear (64 MiB, 131072 sectors)`.
fn write_summary(f: &mut fmt::Formatter<'_>, spec: &DeviceSpec) -> fmt::Result {
    for (i, l) in spec.table.iter().enumerate() {
        if i > 0 {
            f.write_char('+')?;
        }
        f.write_str(l.target.name())?;
    }
    write_size(f, spec.len().0)
}

/// ` (64 MiB, 131072 sectors)`.
fn write_size(f: &mut fmt::Formatter<'_>, len: u64) -> fmt::Result {
    let (n, unit) = mib(len);
    write!(f, " ({n} {unit}, {len} sectors)")
}

/// [`write_summary`] of a device built when needed, from its volume's description
/// (the same words as from the built spec).
fn write_lazy_summary(f: &mut fmt::Formatter<'_>, spec: &SpecRef) -> fmt::Result {
    match spec.lazy_summary() {
        Some((Targets::One(t), len)) => {
            f.write_str(t)?;
            write_size(f, len.0)
        }
        Some((Targets::Segments(segs), len)) => {
            for (i, s) in segs.iter().enumerate() {
                if i > 0 {
                    f.write_char('+')?;
                }
                f.write_str(match s {
                    crate::layout::Segment::Linear { .. } => "linear",
                    crate::layout::Segment::Striped { .. } => "striped",
                })?;
            }
            write_size(f, len.0)
        }
        None => match spec.get() {
            Ok(s) => write_summary(f, &s),
            Err(_) => Ok(()),
        },
    }
}

/// The text of [`Text::zero`] (empty when the volume or extent is not there).
fn write_zero(f: &mut fmt::Formatter<'_>, meta: &ClassMeta, vol: u32, leg: u8) -> fmt::Result {
    let Some(v) = meta.volumes.get(vol as usize) else {
        return Ok(());
    };
    let e = if leg == u8::MAX {
        v.layout.log.as_ref()
    } else {
        v.layout
            .legs
            .get(usize::from(leg))
            .and_then(|l| l.rmeta.as_ref())
    };
    let Some(e) = e else {
        return Ok(());
    };
    if leg == u8::MAX {
        write!(f, "volume {} mirror log", v.name)?;
    } else {
        write!(f, "volume {} leg {leg} rmeta", v.name)?;
    }
    write!(f, ": {} bytes at byte {}", e.len.0 * 512, e.offset.0 * 512)
}

/// Writes a text that is not stored through `Display` (so it can be padded as a
/// whole).
struct Built<'a>(&'a Text);

impl fmt::Display for Built<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0 .0, self.0.lazy()) {
            (Repr::Summary(spec), _) => write_summary(f, spec),
            (Repr::LazyName(..), Some(s)) => f.write_str(&s.name()),
            (Repr::LazyUuid(..), Some(s)) => f.write_str(&s.uuid()),
            (Repr::LazySummary(..), Some(s)) => write_lazy_summary(f, &s),
            (Repr::Zero(meta, vol, leg), _) => write_zero(f, meta, *vol, *leg),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stored() {
            Some(s) => f.pad(s),
            None if f.width().is_none() && f.precision().is_none() => Built(self).fmt(f),
            None => f.pad(&Built(self).to_string()),
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.stored() {
            Some(t) => s.serialize_str(t),
            None => s.collect_str(self),
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Repr::Owned(Box::new(s)))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::from(s.to_owned())
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::from(s.clone())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_cow() == other.as_cow()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_cow() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}
