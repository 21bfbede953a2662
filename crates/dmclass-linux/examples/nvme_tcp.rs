//! Drives the netmirror transport ([`dmclass_linux::nvme_tcp`]) by hand, one step per
//! run, on the real kernel: what the VM tier's cluster scenario uses to check the
//! export and connection against real configfs and a real NVMe/TCP host driver before
//! `activate` drives them.
//!
//! ```text
//! nvme_tcp export NQN DEVICE LISTEN-ADDR PORT PARTNER-NQN
//! nvme_tcp unexport NQN
//! nvme_tcp connect ADDR PORT NQN HOST-NQN     (prints the controller: nvmeN)
//! nvme_tcp disconnect NQN
//! nvme_tcp status NQN                         (nvmeN live|not-live, or none)
//! ```

use dmclass_engine::netmirror::transport::{ConnectOptions, Endpoint, Export, Nqn, Transport};
use dmclass_linux::nvme_tcp::NvmeTcp;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

fn run(args: &[String]) -> Result<String, String> {
    let nqn = |s: &String| Nqn::parse(s).map_err(|e| e.to_string());
    let endpoint = |a: &String, p: &String| -> Result<Endpoint, String> {
        let addr: IpAddr = a.parse().map_err(|e| format!("address {a:?}: {e}"))?;
        let port: u16 = p.parse().map_err(|e| format!("port {p:?}: {e}"))?;
        Endpoint::new(addr, port).map_err(|e| e.to_string())
    };
    let mut t = NvmeTcp::system();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["export", ..] if args.len() == 6 => {
            let x = Export {
                nqn: nqn(&args[1])?,
                device: PathBuf::from(&args[2]),
                listen: endpoint(&args[3], &args[4])?,
                partner: nqn(&args[5])?,
                // fixed per subsystem: derived from its name
                namespace_uuid: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, args[1].as_bytes()),
                auth: None,
            };
            t.export(&x).map_err(|e| e.to_string())?;
            Ok(format!("exported {}", x.nqn))
        }
        ["unexport", _] => {
            t.unexport(&nqn(&args[1])?).map_err(|e| e.to_string())?;
            Ok("withdrawn".into())
        }
        ["connect", ..] if args.len() == 5 => {
            let c = t
                .connect(
                    endpoint(&args[1], &args[2])?,
                    &nqn(&args[3])?,
                    &nqn(&args[4])?,
                    &ConnectOptions::default(),
                    None,
                )
                .map_err(|e| e.to_string())?;
            Ok(format!("nvme{}", c.instance))
        }
        ["disconnect", _] => {
            t.disconnect(&nqn(&args[1])?).map_err(|e| e.to_string())?;
            Ok("disconnected".into())
        }
        ["status", _] => match t.connection(&nqn(&args[1])?).map_err(|e| e.to_string())? {
            Some(c) => Ok(format!(
                "nvme{} {}",
                c.instance,
                if c.live { "live" } else { "not-live" }
            )),
            None => Ok("none".into()),
        },
        _ => Err(
            "usage: nvme_tcp export|unexport|connect|disconnect|status ... (see the source)".into(),
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nvme_tcp: {e}");
            ExitCode::FAILURE
        }
    }
}
