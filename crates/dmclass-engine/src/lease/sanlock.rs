//! sanlock's command line, as text: the lockspace and resource arguments dmclass
//! passes (`NAME:HOST_ID:PATH:OFFSET`, `LOCKSPACE:NAME:PATH:OFFSET`), and what it
//! reads back (`sanlock client status`, `sanlock direct read_leader`), parsed as
//! untrusted text: bounded, and anything unexpected is `None` or skipped, never a
//! guess.

use crate::error::{EngineError, Result};
use dmclass_model::Bytes;
use std::path::Path;

/// Most output read from one sanlock command.
pub const OUTPUT_CAP: usize = 1 << 20;

/// A device path sanlock can take: absolute, UTF-8, no `:` (its field separator) and
/// no white space.
fn checked_path(path: &Path) -> Result<&str> {
    let s = path
        .to_str()
        .filter(|s| s.starts_with('/') && !s.contains(':') && !s.chars().any(char::is_whitespace));
    s.ok_or_else(|| {
        EngineError::InvalidLayout(format!(
            "lease device {}: sanlock needs an absolute path without ':' or spaces",
            path.display()
        ))
    })
}

/// `-s` argument: lockspace `name`, this node's `host_id` (0 when initialising), the
/// lease device and the lockspace's byte offset on it.
pub fn lockspace_arg(name: &str, host_id: u16, path: &Path, offset: Bytes) -> Result<String> {
    Ok(format!(
        "{name}:{host_id}:{}:{}",
        checked_path(path)?,
        offset.0
    ))
}

/// `-r` argument: resource `resource` of `lockspace` at `offset` on `path`.
pub fn resource_arg(lockspace: &str, resource: &str, path: &Path, offset: Bytes) -> Result<String> {
    Ok(format!(
        "{lockspace}:{resource}:{}:{}",
        checked_path(path)?,
        offset.0
    ))
}

/// A resource lease a local process holds (`r LS:RES:PATH:OFF:LVER p PID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Lockspace name.
    pub lockspace: String,
    /// Resource name.
    pub resource: String,
    /// The holding process.
    pub pid: u32,
}

/// What `sanlock client status` says: the lockspaces this node has joined (`s` lines;
/// an `ADD` or `REM` suffix, a join or leave under way, is not joined) and the
/// resource leases local processes hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Joined lockspaces, by name.
    pub lockspaces: Vec<String>,
    /// Lockspaces being joined.
    pub joining: Vec<String>,
    /// Held resource leases.
    pub held: Vec<Held>,
}

impl Status {
    /// The pid holding `resource` of `lockspace`, if a local process does.
    pub fn holder(&self, lockspace: &str, resource: &str) -> Option<u32> {
        self.held
            .iter()
            .find(|h| h.lockspace == lockspace && h.resource == resource)
            .map(|h| h.pid)
    }
}

/// Parse `sanlock client status` output.
pub fn parse_status(text: &str) -> Status {
    let mut st = Status::default();
    for line in text.lines().take(100_000) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("s") => {
                let Some(spec) = words.next() else { continue };
                let Some(name) = spec.split(':').next().filter(|n| !n.is_empty()) else {
                    continue;
                };
                if words.next().is_some() {
                    st.joining.push(name.to_owned());
                } else {
                    st.lockspaces.push(name.to_owned());
                }
            }
            Some("r") => {
                let (Some(spec), Some("p"), Some(pid)) = (words.next(), words.next(), words.next())
                else {
                    continue;
                };
                let mut f = spec.split(':');
                let (Some(ls), Some(res), Ok(pid)) = (f.next(), f.next(), pid.parse::<u32>())
                else {
                    continue;
                };
                st.held.push(Held {
                    lockspace: ls.to_owned(),
                    resource: res.to_owned(),
                    pid,
                });
            }
            _ => {}
        }
    }
    st
}

/// A lease's leader record (`sanlock direct read_leader`): its owner host id and
/// whether it is held (a released lease has timestamp 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leader {
    /// The host id that last owned it (0: never).
    pub owner_id: u64,
    /// The owner's lockspace time when it took the lease; 0 when free.
    pub timestamp: u64,
}

impl Leader {
    /// The host id holding the lease, if any.
    pub fn held_by(&self) -> Option<u64> {
        (self.owner_id != 0 && self.timestamp != 0).then_some(self.owner_id)
    }
}

/// Parse `sanlock direct read_leader` output (`key value` lines); `None` unless it
/// names the expected resource (or lockspace) and has both numbers.
pub fn parse_leader(text: &str, name: &str) -> Option<Leader> {
    let mut owner = None;
    let mut timestamp = None;
    let mut named = false;
    for line in text.lines().take(1000) {
        let mut w = line.split_whitespace();
        let (Some(k), Some(v)) = (w.next(), w.next()) else {
            continue;
        };
        match k {
            "owner_id" => owner = v.parse().ok(),
            "timestamp" => timestamp = v.parse().ok(),
            "resource_name" | "space_name" if v == name => named = true,
            _ => {}
        }
    }
    named.then_some(Leader {
        owner_id: owner?,
        timestamp: timestamp?,
    })
}

/// The host ids in `sanlock client host_status -s LOCKSPACE` (`ID timestamp T`
/// lines; a host whose timestamp is 0 has no lease).
pub fn parse_hosts(text: &str) -> Vec<u64> {
    text.lines()
        .take(10_000)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let id = w.next()?.parse::<u64>().ok()?;
            (w.next()? == "timestamp" && w.next()?.parse::<u64>().ok()? != 0).then_some(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_refuse_paths_sanlock_would_split() {
        let p = Path::new("/dev/vdb");
        assert_eq!(
            lockspace_arg("dmclass-x", 2, p, Bytes(33 << 20))
                .ok()
                .as_deref(),
            Some("dmclass-x:2:/dev/vdb:34603008")
        );
        assert_eq!(
            resource_arg("dmclass-x", "v.vol1", p, Bytes(0))
                .ok()
                .as_deref(),
            Some("dmclass-x:v.vol1:/dev/vdb:0")
        );
        for bad in ["/dev/disk/by-path/pci-0000:00:04.0", "dev/vdb", "/dev/a b"] {
            assert!(
                lockspace_arg("x", 1, Path::new(bad), Bytes(0)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn status_lists_joined_lockspaces_and_held_leases() {
        let text = "daemon 4d6a0b3e-node1\np -1 helper\np 612 \np 700 \n\
                    s dmclass-a:1:/dev/vdb:33554432\n\
                    s dmclass-b:1:/dev/vdc:0 ADD\n\
                    r dmclass-a:v.vol1:/dev/vdb:36700160:3 p 612\n\
                    r dmclass-a:class:/dev/vdb:34603008:7 p 700\n\
                    r broken\nr x:y:z:0 p notanumber\n";
        let st = parse_status(text);
        assert_eq!(st.lockspaces, vec!["dmclass-a"]);
        assert_eq!(st.joining, vec!["dmclass-b"]);
        assert_eq!(st.holder("dmclass-a", "v.vol1"), Some(612));
        assert_eq!(st.holder("dmclass-a", "class"), Some(700));
        assert_eq!(st.holder("dmclass-a", "v.vol2"), None);
        assert_eq!(st.held.len(), 2);
        assert_eq!(parse_status(""), Status::default());
    }

    #[test]
    fn hosts_are_the_ids_with_a_timestamp() {
        let text = "1 timestamp 1796573716\n2 timestamp 1796573720\n3 timestamp 0\nx timestamp 5\n";
        assert_eq!(parse_hosts(text), vec![1, 2]);
        assert!(parse_hosts("").is_empty());
    }

    #[test]
    fn leader_says_who_holds_and_free_is_free() {
        let held = "magic 0x06152010\nversion 0x30004\nowner_id 1\nowner_generation 2\n\
                    lver 3\nspace_name dmclass-a\nresource_name v.vol1\ntimestamp 1234\n";
        let l = parse_leader(held, "v.vol1");
        assert_eq!(l.and_then(|l| l.held_by()), Some(1));
        let free = held.replace("timestamp 1234", "timestamp 0");
        let l = parse_leader(&free, "v.vol1");
        assert_eq!(l.map(|l| l.held_by()), Some(None));
        assert_eq!(parse_leader(held, "v.other"), None);
        assert_eq!(
            parse_leader("owner_id x\nresource_name v.vol1\n", "v.vol1"),
            None
        );
        assert_eq!(parse_leader("", "v.vol1"), None);
    }
}
