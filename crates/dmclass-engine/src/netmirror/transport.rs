//! The network transport of a netmirror: a node exports its local disk and the partner
//! connects to it, so each node sees both disks as block devices.
//!
//! NVMe over TCP was chosen over iSCSI: both are in the kernel of every current
//! distribution, but NVMe/TCP needs no daemon on either side (target through configfs,
//! host through `/dev/nvme-fabrics`), has a shorter I/O path, and its host driver
//! retries and gives up on a lost connection after times the connection itself
//! carries ([`ConnectOptions`]), which bound how long the mirror waits before it
//! drops the remote leg. iSCSI (LIO + open-iscsi's `iscsid`) can follow behind the
//! same [`Transport`] trait.
//!
//! Names: the exported subsystem of a disk is `nqn.2014-08.org.nvmexpress:uuid:<disk
//! uuid>` (the NVMe specification's UUID form, so no domain is claimed), and each node
//! connects as `nqn.2014-08.org.nvmexpress:uuid:<node uuid>`; the export admits that
//! host only.

use super::secret::Auth;
use crate::error::{EngineError, Result};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

/// The prefix of UUID-based NVMe qualified names.
const UUID_NQN_PREFIX: &str = "nqn.2014-08.org.nvmexpress:uuid:";
/// The longest NQN the specification allows (bytes).
const NQN_MAX: usize = 223;

/// An NVMe qualified name: a subsystem's or a host's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nqn(String);

impl Nqn {
    /// The UUID-form NQN of `uuid`.
    pub fn of_uuid(uuid: Uuid) -> Nqn {
        Nqn(format!("{UUID_NQN_PREFIX}{}", uuid.hyphenated()))
    }

    /// `text` as an NQN: `nqn.` followed by printable ASCII without spaces, commas,
    /// `=` or `/` (it becomes a configfs directory name and a field of the connect
    /// line), at most 223 bytes.
    pub fn parse(text: &str) -> Result<Nqn> {
        let bad = |why: &str| {
            Err(EngineError::Transport {
                what: format!("NQN {text:?}"),
                reason: why.to_owned(),
            })
        };
        if !text.starts_with("nqn.") {
            return bad("does not start with `nqn.`");
        }
        if text.len() > NQN_MAX {
            return bad("is longer than 223 bytes");
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'=' | b'/'))
        {
            return bad("has a character other than printable ASCII (no space , = /)");
        }
        Ok(Nqn(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address and TCP port a node listens on or connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The address: unicast, not link-local (a link-local address needs an interface
    /// scope the connect line cannot carry, and is not what a dedicated network uses).
    pub addr: IpAddr,
    /// TCP port (NVMe/TCP's registered port is 4420).
    pub port: u16,
}

/// NVMe/TCP's IANA port.
pub const NVME_TCP_PORT: u16 = 4420;

impl Endpoint {
    /// `addr:port`, checked: a unicast address the partner can reach
    /// ([`dmclass_model::address_problem`]), port not 0.
    pub fn new(addr: IpAddr, port: u16) -> Result<Endpoint> {
        let why = if port == 0 {
            Some("port 0")
        } else {
            dmclass_model::address_problem(addr)
        };
        match why {
            Some(why) => Err(EngineError::Transport {
                what: format!("address {addr} port {port}"),
                reason: format!("is {why}; use a unicast address of the mirror network"),
            }),
            None => Ok(Endpoint { addr, port }),
        }
    }

    /// `ipv4` or `ipv6`, as configfs's `addr_adrfam` and the connect line want it.
    pub fn family(&self) -> &'static str {
        match self.addr {
            IpAddr::V4(_) => "ipv4",
            IpAddr::V6(_) => "ipv6",
        }
    }
}

/// One local disk offered to the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The subsystem's name.
    pub nqn: Nqn,
    /// The disk, by a stable path (`/dev/disk/by-id/...`).
    pub device: std::path::PathBuf,
    /// Where this node listens.
    pub listen: Endpoint,
    /// The one host admitted (the partner's host NQN).
    pub partner: Nqn,
    /// The namespace's UUID, derived like the name and set before the namespace is
    /// enabled: after this node exports again (a reboot) the partner's host driver
    /// finds the same namespace identifiers, so it keeps the block device the running
    /// mirror uses and the leg can come back (a drawn UUID makes it a new device).
    pub namespace_uuid: Uuid,
    /// The secrets the partner must prove and this node answers with (in-band
    /// authentication); `None`: the class has no secrets file.
    pub auth: Option<Auth>,
}

/// How long the host side keeps trying when the connection breaks. The remote leg's
/// I/O fails after `fast_io_fail` (the mirror then drops the leg and runs on the local
/// one), reconnects are tried every `reconnect_delay`, and the controller is removed
/// after `ctrl_loss`. The kernel's defaults (I/O held for up to 600 s) would freeze
/// the mirror for ten minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Fail queued I/O after this long without a connection.
    pub fast_io_fail: Duration,
    /// Time between reconnect attempts.
    pub reconnect_delay: Duration,
    /// Give the controller up after this long without a connection.
    pub ctrl_loss: Duration,
    /// Keep-alive interval (how soon a dead link is noticed when idle).
    pub keep_alive: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            fast_io_fail: Duration::from_secs(15),
            reconnect_delay: Duration::from_secs(2),
            ctrl_loss: Duration::from_secs(3600),
            keep_alive: Duration::from_secs(5),
        }
    }
}

/// The line written to `/dev/nvme-fabrics` to connect to `export` at `target`, as
/// `host`, with `auth`'s secrets when given (never log this line).
pub fn connect_line(
    target: Endpoint,
    export: &Nqn,
    host: &Nqn,
    opts: &ConnectOptions,
    auth: Option<&Auth>,
) -> String {
    let secrets = auth
        .map(|a| {
            format!(
                ",dhchap_secret={},dhchap_ctrl_secret={}",
                a.host.expose(),
                a.ctrl.expose()
            )
        })
        .unwrap_or_default();
    format!(
        "transport=tcp,traddr={},trsvcid={},nqn={},hostnqn={},fast_io_fail_tmo={},\
         reconnect_delay={},ctrl_loss_tmo={},keep_alive_tmo={}{secrets}",
        target.addr,
        target.port,
        export,
        host,
        opts.fast_io_fail.as_secs().max(1),
        opts.reconnect_delay.as_secs().max(1),
        opts.ctrl_loss.as_secs().max(1),
        opts.keep_alive.as_secs().max(1),
    )
}

/// The controller instance from what `/dev/nvme-fabrics` answers a connect with
/// (`instance=3,cntlid=1`): the host's `/dev/nvme3`.
pub fn parse_connect_reply(reply: &str) -> Result<u32> {
    reply
        .trim()
        .split(',')
        .find_map(|f| f.strip_prefix("instance="))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| EngineError::Transport {
            what: "the NVMe fabrics connect".into(),
            reason: format!(
                "unexpected reply {:?}",
                reply.chars().take(80).collect::<String>()
            ),
        })
}

/// A connection this node has to a partner's export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The subsystem connected to.
    pub nqn: Nqn,
    /// The controller instance (`/dev/nvmeN`).
    pub instance: u32,
    /// Whether the controller is live now (`state` is `live`).
    pub live: bool,
}

/// What the transport does; the Linux side uses NVMe over TCP, tests a fake.
/// Every step is idempotent: export and connect verify what exists and reuse it when
/// it matches, refuse when it does not.
pub trait Transport {
    /// Offer `export` to the partner (create, or verify the existing export).
    fn export(&mut self, export: &Export) -> Result<()>;
    /// Withdraw the export named `nqn` (nothing to do when there is none).
    fn unexport(&mut self, nqn: &Nqn) -> Result<()>;
    /// Connect to the partner's `export` at `target` as `host`, authenticated with
    /// `auth` when given (or return the existing connection to it).
    fn connect(
        &mut self,
        target: Endpoint,
        export: &Nqn,
        host: &Nqn,
        opts: &ConnectOptions,
        auth: Option<&Auth>,
    ) -> Result<Connection>;
    /// Drop the connection to `export` (nothing to do when there is none).
    fn disconnect(&mut self, export: &Nqn) -> Result<()>;
    /// The connection to `export`, if any.
    fn connection(&self, export: &Nqn) -> Result<Option<Connection>>;
    /// The block device of the connected `export`'s namespace, once the kernel made it.
    fn namespace(&self, export: &Nqn) -> Result<Option<std::path::PathBuf>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn nqn_forms_and_refusals() {
        let u = Uuid::from_u128(0x1234);
        let n = Nqn::of_uuid(u);
        assert_eq!(
            n.as_str(),
            "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000001234"
        );
        assert_eq!(Nqn::parse(n.as_str()).ok(), Some(n));
        for bad in [
            "iqn.2003-01.org.linux-iscsi",
            "nqn.a,b",
            "nqn.a=b",
            "nqn.a/b",
            "nqn.a b",
            "nqn.\u{e9}",
        ] {
            assert!(Nqn::parse(bad).is_err(), "{bad}");
        }
        assert!(Nqn::parse(&format!("nqn.{}", "x".repeat(220))).is_err());
        assert!(Nqn::parse(&format!("nqn.{}", "x".repeat(219))).is_ok());
    }

    #[test]
    fn endpoints_must_be_routable_unicast() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert!(Endpoint::new(v4(10, 99, 0, 1), NVME_TCP_PORT).is_ok());
        assert!(
            Endpoint::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 4420).is_ok()
        );
        for (addr, port) in [
            (v4(10, 0, 0, 1), 0),
            (v4(0, 0, 0, 0), 4420),
            (v4(169, 254, 1, 1), 4420),
            (v4(255, 255, 255, 255), 4420),
            (v4(224, 0, 0, 1), 4420),
            (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)), 4420),
            (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 4420),
        ] {
            let e = Endpoint::new(addr, port);
            assert!(e.is_err(), "{addr} {port}");
        }
        // Loopback: the partner would reach itself.
        assert!(Endpoint::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 4420).is_err());
        assert!(Endpoint::new(v4(127, 0, 0, 1), 4420).is_err());
        let e6 = Endpoint::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 4420).ok();
        assert_eq!(e6.map(|e| e.family()), Some("ipv6"));
    }

    #[test]
    fn connect_line_carries_every_timeout() {
        let t = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)), 4420).ok();
        let Some(t) = t else {
            panic!("a valid endpoint");
        };
        let line = connect_line(
            t,
            &Nqn::of_uuid(Uuid::from_u128(1)),
            &Nqn::of_uuid(Uuid::from_u128(2)),
            &ConnectOptions::default(),
            None,
        );
        assert_eq!(
            line,
            "transport=tcp,traddr=10.99.0.1,trsvcid=4420,\
             nqn=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001,\
             hostnqn=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000002,\
             fast_io_fail_tmo=15,reconnect_delay=2,ctrl_loss_tmo=3600,keep_alive_tmo=5"
        );
    }

    #[test]
    fn connect_line_carries_both_secrets_when_authenticated() {
        let key = |fill| {
            let text = crate::netmirror::secret::test_key("00", fill, 32);
            crate::netmirror::secret::DhchapKey::parse(&text).map(|k| (k, text))
        };
        let (Ok((host, h)), Ok((ctrl, c))) = (key(1), key(2)) else {
            panic!("valid secrets");
        };
        let Ok(t) = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)), 4420) else {
            panic!("a valid endpoint");
        };
        let line = connect_line(
            t,
            &Nqn::of_uuid(Uuid::from_u128(1)),
            &Nqn::of_uuid(Uuid::from_u128(2)),
            &ConnectOptions::default(),
            Some(&Auth { host, ctrl }),
        );
        assert!(
            line.ends_with(&format!(
                "keep_alive_tmo=5,dhchap_secret={h},dhchap_ctrl_secret={c}"
            )),
            "{line}"
        );
    }

    #[test]
    fn connect_reply_names_the_controller() {
        assert_eq!(parse_connect_reply("instance=3,cntlid=1\n").ok(), Some(3));
        assert_eq!(parse_connect_reply("cntlid=1,instance=12").ok(), Some(12));
        for bad in [
            "",
            "instance=",
            "instance=x",
            "cntlid=1",
            "instance=99999999999",
        ] {
            assert!(parse_connect_reply(bad).is_err(), "{bad:?}");
        }
    }
}
