//! The text of an action (`object`, `detail`), built when it is shown.
//!
//! A plan for a large class has hundreds of thousands of actions; most of their text
//! is a dm name, a UUID or a table summary of a device spec the action shares anyway.
//! [`Text`] keeps a reference to what it is made of and writes the words only when
//! displayed or serialized (the JSON is the same string as before).

use crate::tables::DeviceSpec;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::ops::Deref;
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
}

impl Text {
    /// The dm name of `spec`.
    pub(crate) fn name(spec: &Rc<DeviceSpec>) -> Text {
        Text(Repr::Name(Rc::clone(spec)))
    }

    /// The dm UUID of `spec`.
    pub(crate) fn uuid(spec: &Rc<DeviceSpec>) -> Text {
        Text(Repr::Uuid(Rc::clone(spec)))
    }

    /// The load summary of `spec` (targets, size).
    pub(crate) fn summary(spec: &Rc<DeviceSpec>) -> Text {
        Text(Repr::Summary(Rc::clone(spec)))
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
            Repr::Summary(_) => None,
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
        f.write_str(&l.target)?;
    }
    let len = spec.len().0;
    let (n, unit) = mib(len);
    write!(f, " ({n} {unit}, {len} sectors)")
}

/// Writes a summary through `Display` (so it can be padded as a whole).
struct Summary<'a>(&'a DeviceSpec);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_summary(f, self.0)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0, self.stored()) {
            (_, Some(s)) => f.pad(s),
            (Repr::Summary(spec), None) if f.width().is_none() && f.precision().is_none() => {
                write_summary(f, spec)
            }
            (Repr::Summary(spec), None) => f.pad(&Summary(spec).to_string()),
            (_, None) => f.pad(""),
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

/// The dm name of a device spec the step shares (no copy of it).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SpecName(pub(crate) Rc<DeviceSpec>);

/// The dm UUID of a device spec the step shares (no copy of it).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SpecUuid(pub(crate) Rc<DeviceSpec>);

impl Deref for SpecName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0.name
    }
}

impl Deref for SpecUuid {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0.uuid
    }
}

impl fmt::Display for SpecName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Display for SpecUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for SpecName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Debug for SpecUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
