//! The reverse of `dmclass_engine::names::dm_name`, for the udev rule
//! (`udev-rules/69-dmclass.rules` runs `dmclass udev-import $env{DM_NAME}`).
//!
//! A dm name is `dmclass-<class>-<volume>[<layer>]` where every `-` inside a component is
//! doubled (LVM's escaping). A single `-` therefore separates components; `--` is a
//! literal `-`. Layers are appended as `_rimage_N`, `_rmeta_N`, `_mimage_N`, `_mlog`
//! (admin names may not contain these, `names::RESERVED`) or as a third component
//! `-real` / `-cow`.
//!
//! **Ambiguity.** The escaping cannot tell where the separator lies in an odd run of
//! dashes: class `a-` + volume `b` and class `a` + volume `-b` both give
//! `dmclass-a---b`. LVM avoids this by refusing names that begin with `-`; the split here
//! assumes the same (the separator is the *last* dash of an odd run), so it is exact for
//! every name that does not start a volume with `-`. A class may start with `-`.

use dmclass_engine::names::{NAME_PREFIX, RESERVED};
use std::path::Path;

/// Split a dm name made by `dm_name` into class, volume and layer tag (`rimage_0`,
/// `mlog`, `real`, ...; `None` for the visible volume). `None` when the name is not one
/// of dmclass's. Total on any input.
///
/// Only names made of the characters admin names may hold
/// ([`dmclass_model::name::is_name_char`]) are dmclass's: any other character (a
/// newline, a space, a quote, in a device another tool created) would change the
/// `KEY=value` lines udev reads from [`udev_import`] (found by the `udev_name` fuzz
/// target: `dmclass-a\nb-v` set `DMCLASS_CLASS=a` plus a stray line).
pub fn split_dm_name(name: &str) -> Option<(String, String, Option<String>)> {
    let rest = name.strip_prefix(NAME_PREFIX)?.strip_prefix('-')?;
    if !rest.chars().all(dmclass_model::name::is_name_char) {
        return None;
    }
    let parts = unescape_split(rest);
    let (class, volume, dash_layer) = match parts.as_slice() {
        [c, v] => (c, v, None),
        [c, v, l] if l == "real" || l == "cow" => (c, v, Some(l.clone())),
        _ => return None,
    };
    if class.is_empty() || RESERVED.iter().any(|r| class.contains(r)) {
        return None;
    }
    let (volume, underscore_layer) = split_layer_suffix(volume)?;
    if volume.is_empty() {
        return None;
    }
    let layer = match (dash_layer, underscore_layer) {
        (Some(_), Some(_)) => return None,
        (a, b) => a.or(b),
    };
    Some((class.clone(), volume.to_owned(), layer))
}

/// The lines `dmclass udev-import <dm name>` prints for udev's `IMPORT{program}`:
/// `DMCLASS_CLASS=`, `DMCLASS_VOLUME=`, `DMCLASS_LAYER=` (empty for the volume itself).
/// `None` when the name is not dmclass's (the command then prints nothing).
pub fn udev_import(name: &str) -> Option<String> {
    let (class, volume, layer) = split_dm_name(name)?;
    Some(format!(
        "DMCLASS_CLASS={class}\nDMCLASS_VOLUME={volume}\nDMCLASS_LAYER={}\n",
        layer.unwrap_or_default()
    ))
}

/// Where dmclass leaves, per visible volume it resumes, the lines [`udev_import`]
/// prints, in a file named after the dm name. `69-dmclass.rules` reads it with
/// `IMPORT{file}` and runs `dmclass udev-import` only when it is missing (a device made
/// by other tools, or /run not writable): an exec costs a udev worker ~60 ms under
/// emulation, 200 volumes 12 s. The content is a function of the name, so a file
/// left behind by a removed device is never wrong.
pub const IMPORT_DIR: &str = "/run/dmclass/udev";

/// Write `<dir>/<name>` for a visible dmclass volume (write to a temporary name, then
/// rename: udev never reads half a file); `copy`: a copy of another volume
/// (`DMCLASS_COPY=1`: its links yield to the original's). `Ok(false)`: not a volume
/// name (layers, other tools' devices), nothing written. An existing file is kept as
/// it is, unless this marks a copy: once a copy, its links yield until it is removed
/// (a broken-off proxy still holds the original's file system UUID).
pub fn write_import_file(dir: &Path, name: &str, copy: bool) -> std::io::Result<bool> {
    let Some(mut text) = split_dm_name(name)
        .filter(|(_, _, layer)| layer.is_none())
        .and_then(|_| udev_import(name))
    else {
        return Ok(false);
    };
    if copy {
        text.push_str("DMCLASS_COPY=1\n");
    }
    let path = dir.join(name);
    if path.exists() && !copy {
        return Ok(true);
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(true)
}

/// Remove `<dir>/<name>` if present (best effort: a left file is harmless).
pub fn remove_import_file(dir: &Path, name: &str) {
    if split_dm_name(name).is_some() {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Split at every single `-`, turning each `--` into a literal `-`.
fn unescape_split(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            if chars.peek() == Some(&'-') {
                chars.next();
                push_char(&mut parts, '-');
            } else {
                parts.push(String::new());
            }
        } else {
            push_char(&mut parts, c);
        }
    }
    parts
}

fn push_char(parts: &mut [String], c: char) {
    if let Some(last) = parts.last_mut() {
        last.push(c);
    }
}

/// `v_rimage_3` → (`v`, Some(`rimage_3`)); `v` → (`v`, None); a reserved marker that is
/// not a well-formed layer → `None`.
fn split_layer_suffix(volume: &str) -> Option<(&str, Option<String>)> {
    let Some(at) = RESERVED.iter().filter_map(|r| volume.find(r)).min() else {
        return Some((volume, None));
    };
    let tag = volume.get(at + 1..)?;
    let well_formed = tag == "mlog"
        || ["rimage_", "rmeta_", "mimage_"].iter().any(|p| {
            // Exactly the numbers `dm_name` prints: a usize without leading zeros, so
            // that the split is the inverse of `dm_name` (the `udev_name` fuzz target
            // found `_rmeta_00` taken for leg 0).
            tag.strip_prefix(p).is_some_and(|n| {
                n.bytes().all(|b| b.is_ascii_digit())
                    && n.parse::<usize>().is_ok()
                    && (n == "0" || !n.starts_with('0'))
            })
        });
    well_formed.then(|| (volume.get(..at).unwrap_or_default(), Some(tag.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_engine::names::{dm_name, Layer};

    #[test]
    fn import_files_for_volumes_only_with_what_udev_import_prints() {
        let dir = std::env::temp_dir().join(format!("dmclass-udev-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let top = dm_name("data-x", "v-1", Layer::Top).unwrap();
        assert!(write_import_file(&dir, &top, false).unwrap());
        let text = std::fs::read_to_string(dir.join(&top)).unwrap();
        assert_eq!(Some(text.clone()), udev_import(&top));
        assert!(
            text.contains("DMCLASS_CLASS=data-x\nDMCLASS_VOLUME=v-1\n"),
            "{text}"
        );
        // layers and foreign devices: nothing
        let layer = dm_name("data-x", "v-1", Layer::Rimage(0)).unwrap();
        assert!(!write_import_file(&dir, &layer, false).unwrap());
        assert!(!write_import_file(&dir, "vg0-lv0", false).unwrap());
        assert!(!dir.join(&layer).exists() && !dir.join("vg0-lv0").exists());
        // idempotent; removal
        assert!(write_import_file(&dir, &top, false).unwrap());
        remove_import_file(&dir, &top);
        assert!(!dir.join(&top).exists());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "no temporary left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn split(n: &str) -> Option<(String, String, Option<String>)> {
        split_dm_name(n)
    }

    #[allow(clippy::unnecessary_wraps)] // compared with split_dm_name's Option
    fn some(c: &str, v: &str, l: Option<&str>) -> Option<(String, String, Option<String>)> {
        Some((c.into(), v.into(), l.map(Into::into)))
    }

    #[test]
    fn inverts_dm_name_for_every_layer() {
        let layers = [
            Layer::Top,
            Layer::Rimage(0),
            Layer::Rimage(12),
            Layer::Rmeta(1),
            Layer::Mimage(2),
            Layer::Mlog,
            Layer::Real,
            Layer::Cow,
        ];
        let names = [
            "data", "my-class", "a--b", "trail-", "x_y", "real", "cow", "v-real",
        ];
        for class in names.iter().copied().chain(["-lead"]) {
            for volume in names {
                for layer in layers {
                    let dm = dm_name(class, volume, layer).unwrap();
                    let tag = (layer != Layer::Top).then(|| layer.tag());
                    assert_eq!(
                        split(&dm),
                        some(class, volume, tag.as_deref()),
                        "{dm} from {class:?} {volume:?} {layer:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn known_names() {
        assert_eq!(split("dmclass-data-v1"), some("data", "v1", None));
        assert_eq!(
            split("dmclass-my--class-a--b_rimage_1"),
            some("my-class", "a-b", Some("rimage_1"))
        );
        assert_eq!(split("dmclass-c-v-real"), some("c", "v", Some("real")));
        assert_eq!(split("dmclass-c-v--real"), some("c", "v-real", None));
        assert_eq!(split("dmclass-c-v_mlog"), some("c", "v", Some("mlog")));
    }

    #[test]
    fn volumes_starting_with_a_dash_are_the_documented_ambiguity() {
        // (`a-`, `b`) and (`a`, `-b`) both escape to this name; the split picks the first.
        assert_eq!(split("dmclass-a---b"), some("a-", "b", None));
        assert_eq!(split("dmclass-c-v---real"), some("c", "v-", Some("real")));
    }

    #[test]
    fn foreign_and_malformed_names_are_refused() {
        for bad in [
            "",
            "dmclass",
            "dmclass-",
            "dmclass-c",
            "dmclass-c-",
            "dmclass--c-v",
            "dmclass-c-v-",
            "dmclass-c-v-snap",
            "dmclass-c-v-real-cow",
            "dmclass-c-v_rimage_",
            "dmclass-c-v_rimage_x",
            "dmclass-c-v_mlogx",
            "dmclass-c-v_rimage_0-real",
            "dmclass-c-_rimage_0",
            "dmclass-c_rmeta_0-v",
            "vg0-lv0",
            "dmclassx-c-v",
            "luks-0123",
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }

    /// Fuzzer finds (`udev_name`): a newline in the name injected an import line; a
    /// leg number with a leading zero split to a layer `dm_name` never names.
    #[test]
    fn names_with_other_characters_are_not_dmclass_names() {
        assert_eq!(udev_import("dmclass-ata\nvd\u{fffd}ta-v0-real"), None);
        for bad in [
            "dmclass-a\nDMCLASS_LAYER=x-v",
            "dmclass-a-v ",
            "dmclass-a-\"v\"",
            "dmclass-a-v\u{0}",
            "dmclass-a=b-v",
            "dmclass-é-v",
            // Leg numbers other than `dm_name`'s.
            "dmclass-data-1_rmeta_00",
            "dmclass-data-v_rimage_01",
            "dmclass-data-v_mimage_99999999999999999999999",
            "dmclass-data-v_rimage_+1",
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn import_lines_for_udev() {
        assert_eq!(
            udev_import("dmclass-data-v1").unwrap(),
            "DMCLASS_CLASS=data\nDMCLASS_VOLUME=v1\nDMCLASS_LAYER=\n"
        );
        assert_eq!(
            udev_import("dmclass-data-v1_rmeta_0").unwrap(),
            "DMCLASS_CLASS=data\nDMCLASS_VOLUME=v1\nDMCLASS_LAYER=rmeta_0\n"
        );
        assert_eq!(udev_import("vg-lv"), None);
    }
}

/// The paths a public dmclass device `name` is known by once udev has processed it,
/// under `dev` (`/dev`): `<dev>/mapper/<name>`, and `<dev>/dmclass/<class>/<volume>`
/// for a volume.
pub fn public_paths(dev: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = vec![dev.join("mapper").join(name)];
    if let Some((class, volume, None)) = split_dm_name(name) {
        out.push(dev.join("dmclass").join(class).join(volume));
    }
    out
}

/// Poll (every 20 ms, at most `timeout`) until every path of every device in `names`
/// exists and resolves to the same node as `/dev/mapper/<name>` (a link left from an
/// earlier device of that name does not count). Returns the paths still missing.
pub fn wait_paths(names: &[String], timeout: std::time::Duration) -> Vec<String> {
    wait_paths_under(Path::new("/dev"), names, timeout)
}

/// [`wait_paths`] under another `/dev` (tests).
pub fn wait_paths_under(dev: &Path, names: &[String], timeout: std::time::Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + timeout;
    let missing = |name: &str| -> Vec<String> {
        let paths = public_paths(dev, name);
        let target = std::fs::canonicalize(&paths[0]).ok();
        paths
            .iter()
            .filter(|p| target.is_none() || std::fs::canonicalize(p).ok() != target)
            .map(|p| p.display().to_string())
            .collect()
    };
    let mut pending: Vec<&String> = names.iter().collect();
    loop {
        pending.retain(|n| !missing(n).is_empty());
        if pending.is_empty() || std::time::Instant::now() >= deadline {
            return pending.iter().flat_map(|n| missing(n)).collect();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod wait_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_for_links_that_appear_and_rejects_a_stale_one() {
        let dir = std::env::temp_dir().join(format!("dmclass-wait-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mapper")).unwrap();
        std::fs::create_dir_all(dir.join("dmclass/acc")).unwrap();
        std::fs::write(dir.join("dm-3"), b"").unwrap();
        std::fs::write(dir.join("dm-4"), b"").unwrap();
        let name = "dmclass-acc-vol1".to_owned();
        // udev makes the links 200 ms later.
        let d = dir.clone();
        let maker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            std::os::unix::fs::symlink(d.join("dm-3"), d.join("mapper/dmclass-acc-vol1")).unwrap();
            std::os::unix::fs::symlink(d.join("dm-3"), d.join("dmclass/acc/vol1")).unwrap();
        });
        let missing = wait_paths_under(&dir, std::slice::from_ref(&name), Duration::from_secs(10));
        maker.join().unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        // A link to another device (left from before) is not the volume's path.
        std::fs::remove_file(dir.join("dmclass/acc/vol1")).unwrap();
        std::os::unix::fs::symlink(dir.join("dm-4"), dir.join("dmclass/acc/vol1")).unwrap();
        let missing = wait_paths_under(&dir, &[name], Duration::from_millis(100));
        assert_eq!(
            missing,
            [dir.join("dmclass/acc/vol1").display().to_string()]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
