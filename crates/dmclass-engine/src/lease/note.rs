//! The holder note: one sector per volume slot in the lease area's third unit, written
//! by the node that took the slot's lease right after taking it, so that a refused node
//! can say who holds the volume and since when. sanlock's own leader record names the
//! owner's host id but keeps no wall-clock time. Read back as untrusted input.

use crate::error::{EngineError, Result};

/// A note's size (the smallest sector).
pub const NOTE_LEN: usize = 512;
/// The note's first bytes, and its version.
const NOTE_MAGIC: &str = "dmclass-holder/1";

/// The holder note dmclass writes when it takes a lease: the node's name and the
/// time, as one line `dmclass-holder/1 node=NAME since=SECS`, zero-padded.
pub fn encode(node: &str, since: u64) -> Result<[u8; NOTE_LEN]> {
    dmclass_model::name::check_node_name(node)
        .map_err(|e| EngineError::InvalidLayout(format!("holder note: {e}")))?;
    let line = format!("{NOTE_MAGIC} node={node} since={since}");
    let mut out = [0u8; NOTE_LEN];
    // A node name is at most 64 bytes: the line always fits.
    out.get_mut(..line.len())
        .ok_or_else(|| EngineError::InvalidLayout("holder note too long".into()))?
        .copy_from_slice(line.as_bytes());
    Ok(out)
}

/// What [`encode`] wrote, from untrusted bytes: `None` unless it is exactly that
/// form (another version, garbage or an all-zero block: unknown taker).
pub fn decode(bytes: &[u8]) -> Option<(String, u64)> {
    let bytes = bytes.get(..NOTE_LEN.min(bytes.len()))?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if bytes[end..].iter().any(|&b| b != 0) {
        return None;
    }
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut words = text.split(' ');
    if words.next()? != NOTE_MAGIC {
        return None;
    }
    let node = words.next()?.strip_prefix("node=")?;
    let since = words.next()?.strip_prefix("since=")?.parse().ok()?;
    if words.next().is_some() || dmclass_model::name::check_node_name(node).is_err() {
        return None;
    }
    Some((node.to_owned(), since))
}
