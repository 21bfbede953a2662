//! dmclass's own label: the private area at the start of every member disk
//! (layout in `dmclass_engine::metadata`). libblkid does not know this format, so the
//! probe reads it here, through the engine's total decoder.
//!
//! Reads are bounded by the format: two header copies (8 KiB at 4096), then per slot one
//! 4 KiB slot header and the body it announces, which the decoder caps at
//! [`MAX_BODY`](dmclass_engine::metadata::MAX_BODY) before anything is read — at most
//! about 30 MiB, normally a few KiB. Garbage gives "no label", never a panic.

use crate::diskio::LinuxDisks;
use dmclass_engine::metadata::{
    area_offset, decode_header, read_area, AreaHeader, AreaRead, DecodedArea, MetaProblem, BLOCK,
    HEADER_OFFSETS,
};
use dmclass_engine::EngineError;
use dmclass_model::Bytes;
use dmclass_rules::{LabelFacts, Signature};
use std::path::Path;

/// `type` of the signature reported for a disk carrying a dmclass private area.
pub const SIG_TYPE: &str = "dmclass";

/// Reads a private area on a device or image through [`LinuxDisks`] (`O_DIRECT`).
pub struct DeviceArea<'a> {
    dev: &'a Path,
    disks: LinuxDisks,
    /// Where the area starts: 0, or a root class disk's dmclass partition
    /// (`dmclass_engine::metadata::area_offset`).
    base: u64,
}

impl<'a> DeviceArea<'a> {
    /// The private area of `dev`: at its start, or in its dmclass partition. A
    /// damaged partition table reads as "no area here" (blkid reports the table).
    pub fn new(dev: &'a Path) -> Self {
        let disks = LinuxDisks::new();
        let base = area_offset(&disks, dev).map_or(0, |b| b.0);
        DeviceArea { dev, disks, base }
    }
}

impl AreaRead for DeviceArea<'_> {
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let at = self
            .base
            .checked_add(offset)
            .ok_or("area offset overflows")?;
        self.disks
            .read_upto(self.dev, Bytes(at), len)
            .map_err(|e| e.to_string())
    }
}

/// Read and decode the whole private area of `dev` (engine's `read_area`).
pub fn read_device_area(dev: &Path) -> Result<DecodedArea, EngineError> {
    let mut r = DeviceArea::new(dev);
    let area = read_area(&dev.display().to_string(), &mut r)?;
    let recorded = area
        .meta
        .disks
        .iter()
        .find(|d| d.uuid == area.header.disk_uuid)
        .map_or(0, |d| d.area_offset.0);
    if r.base == 0 && recorded > 0 {
        // A root class disk's dmclass partition read on its own: the whole disk is
        // the member (engine metadata/read.rs does the same).
        return Err(EngineError::NotMember {
            disk: dev.display().to_string(),
        });
    }
    Ok(area)
}

/// The label facts of a decoded area: class name and UUID from the winning slot, this
/// disk's name found by the header's disk UUID in the class's disk list (empty when the
/// class no longer lists this disk), generation of the winning slot.
pub fn label_from_area(area: &DecodedArea) -> LabelFacts {
    let disk = area
        .meta
        .disks
        .iter()
        .find(|d| d.uuid == area.header.disk_uuid)
        .map(|d| d.name.clone())
        .unwrap_or_default();
    LabelFacts {
        class: area.meta.name.clone(),
        disk,
        class_uuid: Some(area.meta.uuid.to_string()),
        disk_uuid: Some(area.header.disk_uuid.to_string()),
        generation: Some(area.meta.generation),
    }
}

/// The dmclass label (class, disk, UUIDs, generation) on `dev`, if it carries a valid
/// private area. A disk that is not a member, or whose area does not decode, has none
/// (the reason is logged with `-vv`; [`area_signature`] flags an unreadable or damaged
/// area).
pub fn read_label(dev: &Path) -> Option<LabelFacts> {
    match read_device_area(dev) {
        Ok(area) => {
            let label = label_from_area(&area);
            if label.disk.is_empty() {
                log::warn!(
                    "{}: dmclass class `{}` does not list this disk (disk UUID {})",
                    dev.display(),
                    label.class,
                    area.header.disk_uuid
                );
            }
            Some(label)
        }
        Err(EngineError::NotMember { .. }) => None,
        Err(e) => {
            // The class scan reads the area again and reports an unreadable one.
            log::debug!("{}: dmclass label not readable: {e}", dev.display());
            None
        }
    }
}

/// The `dmclass` signature of `dev`, from its header copies only (8 KiB):
///
/// * a valid header: type `dmclass`, usage `other`, label = class name, uuid = class UUID;
/// * header magic present but neither copy valid: the same without label and UUID, so a
///   damaged dmclass disk still counts as "carrying data";
/// * no magic: `None`.
///
/// A read error is returned as `Err(reason)` (the caller records the disk as unreadable).
pub fn area_signature(dev: &Path) -> Result<Option<Signature>, String> {
    let mut r = DeviceArea::new(dev);
    let heads = r.read_at(HEADER_OFFSETS[0], 2 * BLOCK)?;
    Ok(signature_from_headers(&heads))
}

/// [`area_signature`] on the bytes read at offset 4096 (the two header copies).
pub fn signature_from_headers(heads: &[u8]) -> Option<Signature> {
    let a = decode_header(heads.get(..BLOCK).unwrap_or(heads));
    let b = decode_header(heads.get(BLOCK..).unwrap_or_default());
    let sig = |h: Option<&AreaHeader>| Signature {
        sig_type: SIG_TYPE.to_string(),
        usage: Some("other".to_string()),
        label: h.map(|h| h.class_name.clone()),
        uuid: h.map(|h| h.class_uuid.to_string()),
    };
    match (a, b) {
        (Ok(h), _) | (_, Ok(h)) => Some(sig(Some(&h))),
        // No magic, or the device ends before a whole header copy.
        (
            Err(MetaProblem::Absent | MetaProblem::Truncated { .. }),
            Err(MetaProblem::Absent | MetaProblem::Truncated { .. }),
        ) => None,
        (Err(a), Err(b)) => {
            log::warn!("dmclass header present but invalid (copy A: {a}; copy B: {b})");
            Some(sig(None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;
    use dmclass_engine::metadata::{
        format_area, ClassMeta, ClassTypeMeta, DiskIdentity, DiskMeta, DiskRoleMeta, DiskState,
        AREA_SIZE,
    };
    use dmclass_model::Sectors;
    use std::os::unix::fs::FileExt;
    use uuid::Uuid;

    fn uuid(b: u8) -> Uuid {
        Uuid::from_bytes([b; 16])
    }

    fn meta() -> ClassMeta {
        let mut m = ClassMeta::new("data", uuid(0xc1), ClassTypeMeta::Local);
        m.generation = 7;
        for (name, u) in [("d1", 0xd1), ("d2", 0xd2)] {
            m.disks.push(DiskMeta {
                name: name.into(),
                uuid: uuid(u),
                identity: DiskIdentity::default(),
                size: Sectors(1 << 21),
                role: DiskRoleMeta::Member,
                state: DiskState::Enable,
                area_offset: Sectors(0),
                node: None,
            });
        }
        m
    }

    /// A sparse image holding a formatted private area for disk `disk_uuid`.
    fn formatted(t: &TempTree, disk_uuid: Uuid) -> std::path::PathBuf {
        let p = t.path().join("member.img");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(AREA_SIZE + (1 << 20)).unwrap();
        let h = AreaHeader {
            class_uuid: uuid(0xc1),
            disk_uuid,
            disk_size: Sectors(1 << 21),
            class_name: "data".into(),
        };
        for w in format_area(&h, &meta()).unwrap() {
            f.write_all_at(&w.data, w.offset).unwrap();
        }
        p
    }

    #[test]
    fn formatted_area_gives_label_and_signature() {
        let t = TempTree::new("label");
        let p = formatted(&t, uuid(0xd2));
        let label = read_label(&p).unwrap();
        assert_eq!(
            label,
            LabelFacts {
                class: "data".into(),
                disk: "d2".into(),
                class_uuid: Some(uuid(0xc1).to_string()),
                disk_uuid: Some(uuid(0xd2).to_string()),
                generation: Some(7),
            }
        );
        let sig = area_signature(&p).unwrap().unwrap();
        assert_eq!(sig.sig_type, "dmclass");
        assert_eq!(sig.usage.as_deref(), Some("other"));
        assert_eq!(sig.label.as_deref(), Some("data"));
        assert_eq!(sig.uuid, Some(uuid(0xc1).to_string()));
    }

    #[test]
    fn unknown_disk_uuid_gives_an_empty_disk_name() {
        let t = TempTree::new("label-stray");
        let p = formatted(&t, uuid(0xee));
        let label = read_label(&p).unwrap();
        assert_eq!((label.class.as_str(), label.disk.as_str()), ("data", ""));
    }

    #[test]
    fn blank_small_and_missing_devices_have_no_label() {
        let t = TempTree::new("label-blank");
        let blank = t.path().join("blank.img");
        std::fs::write(&blank, vec![0u8; 64 << 10]).unwrap();
        assert_eq!(read_label(&blank), None);
        assert_eq!(area_signature(&blank).unwrap(), None);
        let tiny = t.path().join("tiny.img");
        std::fs::write(&tiny, vec![0u8; 4096]).unwrap();
        assert_eq!(read_label(&tiny), None);
        assert_eq!(area_signature(&tiny).unwrap(), None);
        let missing = Path::new("/nonexistent/dmclass-disk");
        assert_eq!(read_label(missing), None);
        assert!(area_signature(missing)
            .unwrap_err()
            .contains("No such file"));
    }

    #[test]
    fn damaged_area_still_flags_the_disk() {
        let t = TempTree::new("label-damaged");
        let p = formatted(&t, uuid(0xd1));
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        // Corrupt both header copies after the magic: CRC fails, magic stays.
        for off in HEADER_OFFSETS {
            f.write_all_at(&[0xff; 8], off + 100).unwrap();
        }
        drop(f);
        assert_eq!(read_label(&p), None);
        let sig = area_signature(&p).unwrap().unwrap();
        assert_eq!((sig.sig_type.as_str(), sig.label), ("dmclass", None));
    }

    #[test]
    fn garbage_never_panics() {
        // Pseudo-random bytes, with and without the header magic planted.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..64 {
            let mut bytes = vec![0u8; 3 * BLOCK];
            for b in &mut bytes {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x.to_le_bytes()[3];
            }
            if round % 2 == 0 {
                bytes[BLOCK..BLOCK + 16].copy_from_slice(b"DMCLASS-PRIVATE\0");
            }
            let heads = &bytes[BLOCK..];
            let sig = signature_from_headers(heads);
            assert_eq!(sig.is_some(), round % 2 == 0, "round {round}");
            assert!(sig.is_none_or(|s| s.label.is_none()));
        }
    }
}
