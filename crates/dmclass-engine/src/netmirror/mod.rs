//! Inter-server mirroring (netmirror): a two-node mirror of each node's local disk
//! over the network. Each node exports its local disk to the partner, connects to the
//! partner's, and runs a raid1 over "my disk" and "your disk".
//!
//! [`transport`]: what an export and a connection are, the names and addresses they
//! use, and the [`transport::Transport`] trait the Linux side implements with NVMe over
//! TCP (`dmclass_linux::nvme_tcp`). [`links`]: what one node exports and connects to,
//! from the class and the node's name. [`restore`]: the legs on the partner's disk
//! taken back when its connection returns.

pub mod links;
pub mod restore;
pub mod transport;
