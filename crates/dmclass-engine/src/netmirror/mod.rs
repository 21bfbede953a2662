//! Inter-server mirroring (netmirror): a two-node mirror of each node's local disk
//! over the network. Each node exports its local disk to the partner, connects to the
//! partner's, and runs a raid1 over "my disk" and "your disk".
//!
//! Built so far: the transport ([`transport`]) — what an export and a connection are,
//! the names and addresses they use, and the [`transport::Transport`] trait the Linux
//! side implements with NVMe over TCP (`dmclass_linux::nvme_tcp`). `plan` and `apply`
//! still refuse netmirror groups ([`crate::plan::unbuilt`]).

pub mod transport;
