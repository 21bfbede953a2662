//! Arguments of `dmclass tune`.

use super::values::{self, CopyRate, ObjRef};
use clap::Args;

/// Arguments of `tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The volume, as CLASS/VOLUME.
    #[arg(value_name = "CLASS/VOLUME", value_parser = values::obj_ref)]
    pub volume: ObjRef,
    /// Copy speed per second per disk, a whole number of KiB from 1KiB to 1TiB
    /// (e.g. 50MiB means 50 MiB/s on each leg), or `default` for the kernel's limit.
    #[arg(long, value_name = "RATE", value_parser = values::copy_rate)]
    pub copy_rate: CopyRate,
}
