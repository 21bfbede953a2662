//! Device-mapper names and UUIDs (docs/architecture.md).
//!
//! * Name: `dmclass-<class>-<volume>[<layer>]`, every `-` inside a component doubled
//!   (LVM's escaping, so the split is unambiguous); `_rimage_N`, `_rmeta_N`,
//!   `_mimage_N`, `_mlog` are appended directly, `real` and `cow` after a `-`.
//! * UUID: `DMCLASS-<class uuid><volume uuid>[-<layer>]` (32 hex digits each), so every
//!   device dmclass owns can be found and attributed after a crash.
//! * Names are at most 127 bytes (the kernel's 128 with the NUL).

use crate::error::{EngineError, Result};
use std::fmt::Write as _;
use uuid::Uuid;

/// Longest dm name.
pub const DM_NAME_MAX: usize = 127;
/// Prefix of every dm name.
pub const NAME_PREFIX: &str = "dmclass";
/// Prefix of every dm UUID.
pub const UUID_PREFIX: &str = "DMCLASS-";
/// Directory of the user-visible device links.
pub const DEV_DIR: &str = "/dev/dmclass";

/// Strings an admin's name may not contain (they would collide with hidden layers).
pub const RESERVED: [&str; 4] = ["_rimage", "_rmeta", "_mimage", "_mlog"];

/// Which device of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The visible volume.
    Top,
    /// raid1 data sub-device of leg N.
    Rimage(usize),
    /// raid1 metadata sub-device of leg N.
    Rmeta(usize),
    /// dm-mirror leg N when it is more than one linear extent.
    Mimage(usize),
    /// dm-mirror disk log.
    Mlog,
    /// Snapshot origin's real device.
    Real,
    /// Snapshot COW store.
    Cow,
}

impl Layer {
    /// Layer text (`rimage_0`, `real`, ...); empty for the top device.
    pub fn tag(self) -> String {
        let mut s = String::new();
        self.push_tag(&mut s);
        s
    }

    /// Append [`Layer::tag`] to `out`.
    fn push_tag(self, out: &mut String) {
        let (word, n) = match self {
            Layer::Top => return,
            Layer::Rimage(n) => ("rimage_", n),
            Layer::Rmeta(n) => ("rmeta_", n),
            Layer::Mimage(n) => ("mimage_", n),
            Layer::Mlog => return out.push_str("mlog"),
            Layer::Real => return out.push_str("real"),
            Layer::Cow => return out.push_str("cow"),
        };
        out.push_str(word);
        let _ = write!(out, "{n}");
    }

    /// Whether udev should hide the device (no links, no scanning).
    pub fn hidden(self) -> bool {
        self != Layer::Top
    }
}

/// Double every `-` (LVM's `_quote_hyphens`).
pub fn escape(component: &str) -> String {
    component.replace('-', "--")
}

/// Append `component` with every `-` doubled (as [`escape`]).
fn push_escaped(out: &mut String, component: &str) {
    for (i, part) in component.split('-').enumerate() {
        if i > 0 {
            out.push_str("--");
        }
        out.push_str(part);
    }
}

/// Refuse admin names that contain a reserved layer string.
pub fn check_component(name: &str) -> Result<()> {
    match RESERVED.iter().find(|r| name.contains(*r)) {
        Some(r) => Err(EngineError::ReservedName {
            name: name.to_owned(),
            reserved: r,
        }),
        None => Ok(()),
    }
}

/// The dm name of a volume's device.
pub fn dm_name(class: &str, volume: &str, layer: Layer) -> Result<String> {
    check_component(class)?;
    check_component(volume)?;
    // one allocation: this runs for every device of every volume of a plan
    let mut name = String::with_capacity(NAME_PREFIX.len() + 2 * (class.len() + volume.len()) + 14);
    name.push_str(NAME_PREFIX);
    name.push('-');
    push_escaped(&mut name, class);
    name.push('-');
    push_escaped(&mut name, volume);
    match layer {
        Layer::Top => {}
        Layer::Real | Layer::Cow => name.push('-'),
        _ => name.push('_'),
    }
    layer.push_tag(&mut name);
    if name.len() > DM_NAME_MAX {
        return Err(EngineError::NameTooLong {
            len: name.len(),
            name,
        });
    }
    Ok(name)
}

/// Whether [`dm_name`] accepts every one of `layers` of the volume (the names are
/// only built when one may be too long, to report it).
pub(crate) fn check_dm_names(class: &str, volume: &str, layers: &[Layer]) -> Result<()> {
    check_component(class)?;
    check_component(volume)?;
    let escaped = |s: &str| s.len() + s.matches('-').count();
    // `_` + the longest tag (`rimage_` + a 20-digit number)
    if NAME_PREFIX.len() + 2 + escaped(class) + escaped(volume) + 28 <= DM_NAME_MAX {
        return Ok(());
    }
    for l in layers {
        dm_name(class, volume, *l)?;
    }
    Ok(())
}

/// The dm UUID of a volume's device (at most 8 + 64 + 10 bytes, far below 128).
pub fn dm_uuid(class: Uuid, volume: Uuid, layer: Layer) -> String {
    let mut s = String::with_capacity(UUID_PREFIX.len() + 64 + 12);
    let mut buf = Uuid::encode_buffer();
    s.push_str(UUID_PREFIX);
    s.push_str(class.simple().encode_lower(&mut buf));
    s.push_str(volume.simple().encode_lower(&mut buf));
    if layer != Layer::Top {
        s.push('-');
        layer.push_tag(&mut s);
    }
    s
}

/// Parse a dm UUID made by [`dm_uuid`]: class UUID, volume UUID, layer tag (empty for
/// the top device). `None` for devices that are not dmclass's. Total on any input.
pub fn parse_dm_uuid(s: &str) -> Option<(Uuid, Uuid, &str)> {
    let rest = s.strip_prefix(UUID_PREFIX)?;
    let class = Uuid::try_parse(rest.get(..32)?).ok()?;
    let volume = Uuid::try_parse(rest.get(32..64)?).ok()?;
    let tail = rest.get(64..)?;
    let layer = if tail.is_empty() {
        ""
    } else {
        tail.strip_prefix('-')?
    };
    Some((class, volume, layer))
}

/// The path users see: `/dev/dmclass/<class>/<volume>` (made by the udev rule).
pub fn user_path(class: &str, volume: &str) -> std::path::PathBuf {
    std::path::Path::new(DEV_DIR).join(class).join(volume)
}

/// The dm devices of class `class_uuid` that exist now, by name (their dm UUIDs start
/// with the class's part of [`dm_uuid`]).
pub fn class_devices(
    class_uuid: Uuid,
    kernel: &dyn crate::io::Kernel,
) -> crate::error::Result<Vec<String>> {
    let prefix = format!("{UUID_PREFIX}{}", class_uuid.simple());
    Ok(kernel
        .list()
        .map_err(|e| crate::error::io_err("listing dm devices".to_string(), e))?
        .into_iter()
        .filter(|d| d.uuid.starts_with(&prefix))
        .map(|d| d.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::uuid;

    #[test]
    fn names_escape_hyphens_and_add_layers() {
        assert_eq!(
            dm_name("data", "v1", Layer::Top).unwrap(),
            "dmclass-data-v1"
        );
        assert_eq!(
            dm_name("my-class", "a-b", Layer::Rimage(1)).unwrap(),
            "dmclass-my--class-a--b_rimage_1"
        );
        assert_eq!(
            dm_name("c", "v", Layer::Rmeta(0)).unwrap(),
            "dmclass-c-v_rmeta_0"
        );
        assert_eq!(dm_name("c", "v", Layer::Mlog).unwrap(), "dmclass-c-v_mlog");
        assert_eq!(dm_name("c", "v", Layer::Real).unwrap(), "dmclass-c-v-real");
        // `v-real` the volume and `v` + layer `real` stay distinct.
        assert_eq!(
            dm_name("c", "v-real", Layer::Top).unwrap(),
            "dmclass-c-v--real"
        );
    }

    #[test]
    fn reserved_and_long_names_are_refused() {
        assert!(matches!(
            dm_name("c", "x_rimage_0", Layer::Top),
            Err(EngineError::ReservedName {
                reserved: "_rimage",
                ..
            })
        ));
        let long = "-".repeat(32);
        let err = dm_name(&long, &long, Layer::Rimage(7)).unwrap_err();
        assert!(
            matches!(err, EngineError::NameTooLong { len: 146, .. }),
            "{err}"
        );
        let ok = "a".repeat(32);
        assert_eq!(dm_name(&ok, &ok, Layer::Rimage(7)).unwrap().len(), 82);
    }

    #[test]
    fn uuids_round_trip() {
        let u = dm_uuid(uuid(0xc1), uuid(0xa1), Layer::Rmeta(1));
        assert_eq!(
            u,
            format!("DMCLASS-{}{}-rmeta_1", "c1".repeat(16), "a1".repeat(16))
        );
        assert!(u.len() < 128);
        assert_eq!(parse_dm_uuid(&u), Some((uuid(0xc1), uuid(0xa1), "rmeta_1")));
        let top = dm_uuid(uuid(1), uuid(2), Layer::Top);
        assert_eq!(parse_dm_uuid(&top), Some((uuid(1), uuid(2), "")));
        for bad in ["", "LVM-x", "DMCLASS-zz", "DMCLASS-é", &format!("{top}x")] {
            assert_eq!(parse_dm_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn user_path_is_per_class() {
        assert_eq!(
            user_path("data", "v1"),
            std::path::PathBuf::from("/dev/dmclass/data/v1")
        );
    }
}
