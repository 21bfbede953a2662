//! Arguments of the hidden `dmclass lease-holder` (started by `activate` and `apply`
//! for a shared class, under `sanlock client command`).

use clap::Args;
use std::path::PathBuf;

/// Arguments of `lease-holder`.
#[derive(Debug, Args)]
pub struct LeaseHolderArgs {
    /// What the lease guards, for the log (`acc/vol1`, `class acc`).
    #[arg(long)]
    pub what: String,
    /// The class's UUID.
    #[arg(long)]
    pub class: String,
    /// The volume's UUID: its devices are fenced when the lease is lost.
    #[arg(long)]
    pub volume: Option<String>,
    /// The disk holding the holder note.
    #[arg(long, requires_all = ["note_offset", "node"])]
    pub note: Option<PathBuf>,
    /// The holder note's byte offset on that disk.
    #[arg(long)]
    pub note_offset: Option<u64>,
    /// This node's name, written in the note.
    #[arg(long)]
    pub node: Option<String>,
    /// Hold only while process PID (the command that started it) runs; killed when
    /// the lease is lost (a metadata change must stop before another node can start
    /// one).
    #[arg(long)]
    pub parent: Option<i32>,
    /// Where the holder writes what happened to it.
    #[arg(long)]
    pub log: Option<PathBuf>,
}
