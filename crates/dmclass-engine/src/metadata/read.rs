//! Reading a disk's private area through [`Disks`], and what it holds.

use super::{label_problem, read_area, AreaRead, DecodedArea, LabelContext};
use crate::error::EngineError;
use crate::io::Disks;
use dmclass_model::{Bytes, Sectors};
use std::path::Path;

/// What a bound disk's private area holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaState {
    /// No dmclass header: not a member of any class.
    Blank,
    /// A valid dmclass area (of this class or another one).
    Member(Box<DecodedArea>),
    /// A damaged dmclass area or an unreadable disk: never written to.
    Unreadable(String),
    /// A label that decodes but makes no sense (crafted: [`label_problem`]); its
    /// disk is `DISABLE` and never written to.
    Hostile {
        /// What the label says.
        area: Box<DecodedArea>,
        /// Why it is not trusted.
        reason: String,
    },
}

/// [`AreaRead`] over a [`Disks`] device.
struct DiskReader<'a> {
    disks: &'a dyn Disks,
    path: &'a Path,
}

impl AreaRead for DiskReader<'_> {
    fn read_at(&mut self, offset: u64, len: usize) -> std::result::Result<Vec<u8>, String> {
        self.disks
            .read(self.path, Bytes(offset), len)
            .map_err(|e| e.to_string())
    }
}

/// Read the private area on `path`, labelling errors with `label`.
pub(crate) fn read_area_at(label: &str, path: &Path, disks: &dyn Disks) -> AreaState {
    let mut r = DiskReader { disks, path };
    match read_area(label, &mut r) {
        Ok(a) => {
            let ctx = LabelContext {
                device_size: disks.size(path).ok().map(|b| Sectors(b.0 / 512)),
                ..LabelContext::default()
            };
            match label_problem(&a, &ctx) {
                None => AreaState::Member(Box::new(a)),
                Some(reason) => AreaState::Hostile {
                    area: Box::new(a),
                    reason,
                },
            }
        }
        Err(EngineError::NotMember { .. }) => AreaState::Blank,
        Err(e) => AreaState::Unreadable(e.to_string()),
    }
}
