//! Authentication of a netmirror's links: NVMe in-band authentication (DH-HMAC-CHAP,
//! NVMe base specification §8.13), with one secret per node read from a root-only
//! file named by the class (`secret_file:`), never from the YAML or the class
//! description.
//!
//! Both directions are authenticated: the exporting node admits the partner only when
//! the partner proves it holds the partner's secret, and the connecting node accepts
//! the export only when the exporting node proves it holds its own. So each node's
//! link uses two secrets ([`Auth`]): node X connecting to node Y's export sends
//! `X`'s secret and expects `Y`'s; Y's export expects `X`'s and answers with `Y`'s.
//! Both nodes hold the same file.
//!
//! The file: one line per node, `NODE SECRET`, `#` comments; each secret in the
//! representation `nvme gen-dhchap-key` prints (`DHHC-1:00:<base64 of the key and its
//! CRC-32>:`), checked here as the kernel checks it, so a mistyped secret is refused
//! before anything is exported.

use crate::error::{EngineError, Result};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// The largest secrets file read (two lines of at most ~110 bytes, and comments).
pub const MAX_FILE: u64 = 4096;

/// One DH-HMAC-CHAP secret in its textual representation. `Debug` and `Display`
/// never show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct DhchapKey(String);

impl DhchapKey {
    /// `text` as a secret: `DHHC-1:HH:KEY:` where `HH` (00 none, 01 SHA-256, 02
    /// SHA-384, 03 SHA-512) says how the key is transformed and `KEY` is base64 of a
    /// 32, 48 or 64 byte key followed by its CRC-32 (little endian). The reason on
    /// error never quotes the text.
    pub fn parse(text: &str) -> std::result::Result<DhchapKey, String> {
        let Some(rest) = text.strip_prefix("DHHC-1:") else {
            return Err(
                "does not start with `DHHC-1:` (make one with `nvme gen-dhchap-key`)".into(),
            );
        };
        let mut fields = rest.splitn(3, ':');
        let (Some(hash), Some(b64), Some("")) = (fields.next(), fields.next(), fields.next())
        else {
            return Err("is not of the form DHHC-1:HH:KEY: (with the colon at the end)".into());
        };
        if !matches!(hash, "00" | "01" | "02" | "03") {
            return Err("has a key transformation other than 00, 01, 02 or 03".into());
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "has a key that is not base64".to_owned())?;
        let key_len = raw.len().saturating_sub(4);
        if !matches!(key_len, 32 | 48 | 64) || raw.len() != key_len + 4 {
            return Err(format!(
                "has a key of {key_len} bytes; DH-HMAC-CHAP keys have 32, 48 or 64"
            ));
        }
        let (key, crc) = raw.split_at(key_len);
        if crc32fast::hash(key).to_le_bytes() != crc {
            return Err("has a key whose checksum does not match (mistyped?)".into());
        }
        Ok(DhchapKey(text.to_owned()))
    }

    /// The secret's text, for the kernel only (configfs attribute, connect line).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DhchapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhchapKey(<secret>)")
    }
}

/// The two secrets of one side of a link: the connecting host's and the exporting
/// controller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The secret the connecting node proves it holds.
    pub host: DhchapKey,
    /// The secret the exporting node proves it holds (bidirectional authentication).
    pub ctrl: DhchapKey,
}

/// Every node's secret, from a class's secrets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    by_node: BTreeMap<String, DhchapKey>,
}

impl Secrets {
    /// The file's `text` for a class of `nodes`: exactly one line per node, no other
    /// node, no secret twice (each node must prove something the other cannot).
    pub fn parse(text: &str, nodes: &[&str]) -> std::result::Result<Secrets, String> {
        let mut by_node = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let mut words = line.split_whitespace();
            let (Some(node), Some(secret), None) = (words.next(), words.next(), words.next())
            else {
                return Err(format!("line {n}: expected `NODE SECRET`"));
            };
            if !nodes.contains(&node) {
                return Err(format!(
                    "line {n}: {node:?} is not a node of the class ({})",
                    nodes.join(", ")
                ));
            }
            let key =
                DhchapKey::parse(secret).map_err(|why| format!("line {n}: the secret {why}"))?;
            if by_node.values().any(|k| k == &key) {
                return Err(format!(
                    "line {n}: node {node} has the same secret as another node; each node \
                     needs its own"
                ));
            }
            if by_node.insert(node.to_owned(), key).is_some() {
                return Err(format!("line {n}: node {node} is listed twice"));
            }
        }
        if let Some(missing) = nodes.iter().find(|n| !by_node.contains_key(**n)) {
            return Err(format!("no secret for node {missing}"));
        }
        Ok(Secrets { by_node })
    }

    /// The secrets of the link from `me` to `partner`'s export: the host is `me`.
    pub fn connecting(&self, me: &str, partner: &str) -> Option<Auth> {
        Some(Auth {
            host: self.by_node.get(me)?.clone(),
            ctrl: self.by_node.get(partner)?.clone(),
        })
    }

    /// The secrets of `me`'s export to `partner`: the host is `partner`.
    pub fn exporting(&self, me: &str, partner: &str) -> Option<Auth> {
        self.connecting(partner, me)
    }
}

/// What is known of the secrets file before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// A regular file (not a device, FIFO or directory).
    pub regular: bool,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits.
    pub mode: u32,
    /// Its size in bytes.
    pub len: u64,
}

/// Why a file with `facts` must not be used as a secrets file, if so: it must be a
/// regular file of root's that nobody else can read or write, and small.
pub fn file_problem(facts: &FileFacts) -> Option<String> {
    if !facts.regular {
        Some("is not a regular file".into())
    } else if facts.uid != 0 {
        Some(format!(
            "is owned by uid {}, not root (chown root: it holds secrets)",
            facts.uid
        ))
    } else if facts.mode & 0o077 != 0 {
        Some(format!(
            "has mode {:04o}: others than root may read or change it (chmod 600)",
            facts.mode & 0o7777
        ))
    } else if facts.len > MAX_FILE {
        Some(format!(
            "is {} bytes long; a secrets file has at most {MAX_FILE}",
            facts.len
        ))
    } else {
        None
    }
}

/// Reads class `class`'s secrets file `path` for its `nodes`, checking the open
/// file (not the path: it cannot change between check and read).
pub fn load(class: &str, path: &Path, nodes: &[&str]) -> Result<Secrets> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |reason: String| EngineError::Refused {
        class: class.to_owned(),
        object: format!("secrets file {}", path.display()),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| {
        refuse(format!(
            "cannot be read: {e} (each node needs it: one `NODE SECRET` line per node)"
        ))
    })?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(format!("cannot be examined: {e}")))?;
    let facts = FileFacts {
        regular: meta.file_type().is_file(),
        uid: meta.uid(),
        mode: meta.mode(),
        len: meta.len(),
    };
    if let Some(why) = file_problem(&facts) {
        return Err(refuse(why));
    }
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| refuse(format!("cannot be read as text: {e}")))?;
    if text.len() as u64 > MAX_FILE {
        return Err(refuse(format!("is longer than {MAX_FILE} bytes")));
    }
    Secrets::parse(&text, nodes).map_err(refuse)
}

/// A valid secret of `len` key bytes (all `fill`) under transformation `hash`.
#[cfg(test)]
pub(crate) fn test_key(hash: &str, fill: u8, len: usize) -> String {
    let key = vec![fill; len];
    let mut raw = key.clone();
    raw.extend_from_slice(&crc32fast::hash(&key).to_le_bytes());
    format!(
        "DHHC-1:{hash}:{}:",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[cfg(test)]
mod tests;
