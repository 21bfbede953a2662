//! Fuzz the udev import: a dm name → class, volume and layer (`split_dm_name`), and the
//! `KEY=value` lines `dmclass udev-import` prints and `/run/dmclass/udev/<name>` holds.
//!
//! Both directions: any name must split or be refused, and what splits must read back
//! from the import lines exactly as udev parses them and rebuild the same dm name;
//! any (class, volume, layer) that `dm_name` accepts must split back to itself.
#![no_main]

use dmclass_engine::names::{dm_name, Layer};
use udev_names::{split_dm_name, udev_import};
use dmclass_model::name::is_name_char;
use libfuzzer_sys::fuzz_target;

/// dmclass-linux's `udev_names`, compiled in here: the module is plain string code
/// (it needs only dmclass-engine and dmclass-model), while depending on dmclass-linux
/// would build and instrument bindgen, libdevmapper, libblkid and libudev bindings
/// for every fuzz build, minutes of `make test` for no code this target runs.
#[path = "../../crates/dmclass-linux/src/udev_names.rs"]
#[allow(dead_code)]
mod udev_names;

/// The layer whose tag is `tag` (`rimage_0`, `real`, ...).
fn layer_of(tag: Option<&str>) -> Option<Layer> {
    let Some(tag) = tag else {
        return Some(Layer::Top);
    };
    let n = |p: &str| tag.strip_prefix(p).and_then(|n| n.parse::<usize>().ok());
    match tag {
        "mlog" => Some(Layer::Mlog),
        "real" => Some(Layer::Real),
        "cow" => Some(Layer::Cow),
        _ => n("rimage_")
            .map(Layer::Rimage)
            .or_else(|| n("rmeta_").map(Layer::Rmeta))
            .or_else(|| n("mimage_").map(Layer::Mimage)),
    }
}

/// Properties as udev reads an `IMPORT{file}` / `IMPORT{program}` text (systemd's
/// `get_property_from_string`): one `KEY=value` per line, leading whitespace and
/// `#` comment lines skipped, whitespace around the value dropped, one level of
/// matching quotes removed.
fn udev_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let mut value = value.trim();
        for q in ['"', '\''] {
            if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
                value = &value[1..value.len() - 1];
                break;
            }
        }
        out.push((key.trim_end().to_owned(), value.to_owned()));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // Name → parts → import lines → parts → name.
    let split = split_dm_name(&text);
    let import = udev_import(&text);
    assert_eq!(split.is_some(), import.is_some(), "{text:?}");
    if let (Some((class, volume, tag)), Some(import)) = (split, import) {
        let want = [
            ("DMCLASS_CLASS".to_owned(), class.clone()),
            ("DMCLASS_VOLUME".to_owned(), volume.clone()),
            ("DMCLASS_LAYER".to_owned(), tag.clone().unwrap_or_default()),
        ];
        assert_eq!(udev_properties(&import), want, "{text:?} → {import:?}");
        let layer = layer_of(tag.as_deref())
            .unwrap_or_else(|| panic!("{text:?}: layer tag {tag:?} is not a layer"));
        if let Ok(name) = dm_name(&class, &volume, layer) {
            assert_eq!(name, text, "split {text:?} and built it again");
        }
    }

    // Parts → name → parts: class, volume and a layer selector on separate lines.
    let mut lines = text.splitn(3, '\n');
    let (Some(class), Some(volume)) = (lines.next(), lines.next()) else {
        return;
    };
    let sel = lines.next().unwrap_or("");
    let n = sel.len() % 7;
    let layer = match sel.bytes().next().unwrap_or(0) % 8 {
        0 => Layer::Rimage(n),
        1 => Layer::Rmeta(n),
        2 => Layer::Mimage(n),
        3 => Layer::Mlog,
        4 => Layer::Real,
        5 => Layer::Cow,
        _ => Layer::Top,
    };
    // `split_dm_name` refuses what dmclass never names: empty parts, characters admin
    // names may not hold, a volume that starts with `-` (the escaping is ambiguous
    // there; names may not, as LVM's).
    let plain = |s: &str| !s.is_empty() && s.chars().all(is_name_char);
    if !plain(class) || !plain(volume) || volume.starts_with('-') {
        return;
    }
    if let Ok(name) = dm_name(class, volume, layer) {
        let tag = Some(layer.tag()).filter(|t| !t.is_empty());
        assert_eq!(
            split_dm_name(&name),
            Some((class.to_owned(), volume.to_owned(), tag)),
            "{name:?}"
        );
    }
});
