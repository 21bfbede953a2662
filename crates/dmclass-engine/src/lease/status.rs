//! What `status` says about a shared class's leases on this node: whether it joined
//! the lockspace, which hosts it sees there, and who holds each volume.

use serde::Serialize;

/// The leases of one shared class as this node sees them (`status --json`: `leases`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseStatus {
    /// The lockspace's name.
    pub lockspace: String,
    /// This node's name.
    pub node: String,
    /// Its host id in the class.
    pub host_id: u16,
    /// Whether this node joined the lockspace.
    pub joined: bool,
    /// The hosts sanlock here sees in the lockspace (only when joined).
    pub hosts: Vec<Host>,
    /// Each volume's lease.
    pub volumes: Vec<VolumeLease>,
    /// Why the leases could not be read (sanlock not running, lease disk missing).
    pub error: Option<String>,
}

/// A host seen in the lockspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    /// Its host id.
    pub host_id: u16,
    /// Its node name from the class's `nodes` (null: not one of them).
    pub node: Option<String>,
}

/// Who holds one volume's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeLease {
    /// The volume.
    pub volume: String,
    /// The holding node (null: free).
    pub holder: Option<String>,
    /// Its host id (null: free).
    pub holder_host_id: Option<u16>,
    /// Since when, from the holder note (RFC 3339 UTC; null: unknown).
    pub since: Option<String>,
    /// Whether a process of this node holds it.
    pub here: bool,
}

impl LeaseStatus {
    /// Lines for the text `status` of class `class`.
    pub fn lines(&self, class: &str) -> Vec<String> {
        let mut out = Vec::new();
        let me = format!("{} (host_id {})", self.node, self.host_id);
        if let Some(e) = &self.error {
            out.push(format!("class {class}: leases unknown on {me}: {e}"));
            return out;
        }
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| match &h.node {
                Some(n) => format!("{n} ({})", h.host_id),
                None => format!("host_id {}", h.host_id),
            })
            .collect();
        out.push(if self.joined {
            format!(
                "class {class}: lockspace joined as {me}; hosts seen: {}",
                if hosts.is_empty() {
                    "none".into()
                } else {
                    hosts.join(", ")
                }
            )
        } else {
            format!(
                "class {class}: lockspace not joined on {me} (`dmclass activate {class}` joins it)"
            )
        });
        for v in &self.volumes {
            let who = match (&v.holder, v.here) {
                (_, true) => "held here".to_string(),
                (Some(h), false) => format!(
                    "held by {h} (host_id {})",
                    v.holder_host_id.unwrap_or_default()
                ),
                (None, false) => "free".to_string(),
            };
            let since = v
                .since
                .as_deref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default();
            out.push(format!(
                "class {class}: volume {}: lease {who}{since}",
                v.volume
            ));
        }
        out
    }
}
