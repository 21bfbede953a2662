//! dm-raid: `raid <level> <#params> <chunk> [<option>...] <#devs> (<meta> <data>)...`
//! with `-` for an absent metadata or data device, and the rule deciding whether a
//! raid table read back from the kernel is the one loaded.

use super::{quote, Emit, ParseError, Words};
use dmclass_model::Sectors;
use std::fmt::{self, Display};
use std::str::FromStr;

/// RAID level. dmclass (and the simulated kernel) use raid1 only; other levels do
/// not parse, so a foreign table never compares equal to a dmclass one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidLevel {
    /// `raid1`.
    Raid1,
}

impl Display for RaidLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RaidLevel::Raid1 => "raid1",
        })
    }
}

/// One optional dm-raid parameter (after the chunk size), as raid1 takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaidOpt {
    /// `sync`: force a full initial resync.
    Sync,
    /// `nosync`: skip the initial resync.
    Nosync,
    /// `rebuild N`: rebuild leg N from the others.
    Rebuild(u32),
    /// `daemon_sleep ms`.
    DaemonSleep(u64),
    /// `min_recovery_rate K` (KiB/s per disk).
    MinRecoveryRate(u64),
    /// `max_recovery_rate K` (KiB/s per disk).
    MaxRecoveryRate(u64),
    /// `write_mostly N`.
    WriteMostly(u32),
    /// `max_write_behind N`.
    MaxWriteBehind(u64),
    /// `region_size R`.
    RegionSize(Sectors),
    /// `data_offset S`.
    DataOffset(Sectors),
    /// `delta_disks ±N` (reshape).
    DeltaDisks(i64),
}

impl RaidOpt {
    /// The keyword.
    pub fn key(&self) -> &'static str {
        match self {
            RaidOpt::Sync => "sync",
            RaidOpt::Nosync => "nosync",
            RaidOpt::Rebuild(_) => "rebuild",
            RaidOpt::DaemonSleep(_) => "daemon_sleep",
            RaidOpt::MinRecoveryRate(_) => "min_recovery_rate",
            RaidOpt::MaxRecoveryRate(_) => "max_recovery_rate",
            RaidOpt::WriteMostly(_) => "write_mostly",
            RaidOpt::MaxWriteBehind(_) => "max_write_behind",
            RaidOpt::RegionSize(_) => "region_size",
            RaidOpt::DataOffset(_) => "data_offset",
            RaidOpt::DeltaDisks(_) => "delta_disks",
        }
    }

    /// Words it takes in `<#params>` (1 for a flag, 2 for `key value`).
    fn width(&self) -> u64 {
        match self {
            RaidOpt::Sync | RaidOpt::Nosync => 1,
            _ => 2,
        }
    }

    fn emit<D>(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        out.word(self.key())?;
        match *self {
            RaidOpt::Sync | RaidOpt::Nosync => Ok(()),
            RaidOpt::Rebuild(n) | RaidOpt::WriteMostly(n) => out.word(n),
            RaidOpt::DaemonSleep(n)
            | RaidOpt::MinRecoveryRate(n)
            | RaidOpt::MaxRecoveryRate(n)
            | RaidOpt::MaxWriteBehind(n) => out.word(n),
            RaidOpt::RegionSize(s) | RaidOpt::DataOffset(s) => out.sectors(s),
            RaidOpt::DeltaDisks(n) => out.word(n),
        }
    }

    /// Reads one option; `left` counts the words of `<#params>` still unread and
    /// is decreased by what the option takes.
    fn take(w: &mut Words<'_>, left: &mut u64) -> Result<Self, ParseError> {
        let key = w.word("raid option")?;
        *left -= 1;
        match key {
            "sync" => return Ok(RaidOpt::Sync),
            "nosync" => return Ok(RaidOpt::Nosync),
            _ => {}
        }
        let what: &'static str = match key {
            "rebuild" => "rebuild",
            "daemon_sleep" => "daemon_sleep",
            "min_recovery_rate" => "min_recovery_rate",
            "max_recovery_rate" => "max_recovery_rate",
            "write_mostly" => "write_mostly",
            "max_write_behind" => "max_write_behind",
            "region_size" => "region_size",
            "data_offset" => "data_offset",
            "delta_disks" => "delta_disks",
            other => {
                return Err(ParseError::Unknown {
                    what: "raid option",
                    word: quote(other),
                })
            }
        };
        if *left == 0 {
            // The value would be outside the `<#params>` words.
            return Err(ParseError::Missing { what });
        }
        *left -= 1;
        Ok(match what {
            "rebuild" => RaidOpt::Rebuild(w.num(what)?),
            "daemon_sleep" => RaidOpt::DaemonSleep(w.num(what)?),
            "min_recovery_rate" => RaidOpt::MinRecoveryRate(w.num(what)?),
            "max_recovery_rate" => RaidOpt::MaxRecoveryRate(w.num(what)?),
            "write_mostly" => RaidOpt::WriteMostly(w.num(what)?),
            "max_write_behind" => RaidOpt::MaxWriteBehind(w.num(what)?),
            "region_size" => RaidOpt::RegionSize(w.sectors(what)?),
            "data_offset" => RaidOpt::DataOffset(w.sectors(what)?),
            _ => RaidOpt::DeltaDisks(w.num(what)?),
        })
    }
}

/// One raid leg: `<meta> <data>`, `None` printed as `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaidDev<D> {
    /// Metadata device (`_rmeta_N`).
    pub meta: Option<D>,
    /// Data device (`_rimage_N`).
    pub data: Option<D>,
}

/// A dm-raid table's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Raid<D> {
    /// RAID level.
    pub level: RaidLevel,
    /// Chunk size (0 for raid1, which has none).
    pub chunk: Sectors,
    /// Optional parameters in the order written (the kernel's order on read-back
    /// depends on its version; see [`readback_matches`]).
    pub opts: Vec<RaidOpt>,
    /// Legs, in order.
    pub devs: Vec<RaidDev<D>>,
}

impl<D> Raid<D> {
    /// Reads the parameters.
    pub(crate) fn take(w: &mut Words<'_>) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        let level = match w.word("raid level")? {
            "raid1" => RaidLevel::Raid1,
            other => {
                return Err(ParseError::Unknown {
                    what: "raid level",
                    word: quote(other),
                })
            }
        };
        let nparams: u64 = w.num("raid parameter count")?;
        if nparams == 0 {
            // The chunk size is mandatory.
            return Err(ParseError::BadCount {
                what: "raid parameter",
                count: 0,
            });
        }
        let chunk = w.sectors("chunk size")?;
        let mut left = nparams - 1;
        let mut opts = Vec::new();
        while left > 0 {
            opts.push(RaidOpt::take(w, &mut left)?);
        }
        let ndevs: u64 = w.num("raid device count")?;
        let mut devs = Vec::new();
        for _ in 0..ndevs {
            let meta = w.opt_dev()?;
            let data = w.opt_dev()?;
            devs.push(RaidDev { meta, data });
        }
        Ok(Raid {
            level,
            chunk,
            opts,
            devs,
        })
    }

    /// Writes the parameters (`<#params>` counted from `opts`).
    pub fn emit(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        out.word(self.level)?;
        out.word(1 + self.opts.iter().map(RaidOpt::width).sum::<u64>())?;
        out.sectors(self.chunk)?;
        for o in &self.opts {
            o.emit(out)?;
        }
        out.word(self.devs.len())?;
        for d in &self.devs {
            out.opt_dev(d.meta.as_ref())?;
            out.opt_dev(d.data.as_ref())?;
        }
        Ok(())
    }

    /// The same with every device turned into `f(dev)`.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<Raid<E>, X> {
        let devs = self
            .devs
            .iter()
            .map(|d| {
                Ok(RaidDev {
                    meta: d.meta.as_ref().map(&mut *f).transpose()?,
                    data: d.data.as_ref().map(&mut *f).transpose()?,
                })
            })
            .collect::<Result<_, X>>()?;
        Ok(Raid {
            level: self.level,
            chunk: self.chunk,
            opts: self.opts.clone(),
            devs,
        })
    }
}

/// The optional parameters that must read back: all but `rebuild`, sorted.
fn compared(opts: &[RaidOpt]) -> Vec<RaidOpt> {
    let mut v: Vec<RaidOpt> = opts
        .iter()
        .filter(|o| !matches!(o, RaidOpt::Rebuild(_)))
        .copied()
        .collect();
    v.sort_unstable();
    v
}

/// Whether the raid table the kernel prints back (`kernel`) is the one `loaded`.
///
/// Level, chunk size and legs (`-` included) must be equal. The optional
/// parameters are compared as a multiset without `rebuild`:
/// * the kernel prints `rebuild N` only while leg N is not yet in sync (dm-raid
///   `raid_status`, STATUSTYPE_TABLE), so a finished rebuild reads back without it
///   (and `<#params>` two smaller);
/// * dm-raid targets 1.9.0–1.10.x print the options in another order than the one
///   loaded (lvm_dm.md §1.1: e.g. `max_recovery_rate` after `region_size`).
pub fn readback_matches<D: PartialEq>(loaded: &Raid<D>, kernel: &Raid<D>) -> bool {
    loaded.level == kernel.level
        && loaded.chunk == kernel.chunk
        && loaded.devs == kernel.devs
        && compared(&loaded.opts) == compared(&kernel.opts)
}

super::text_impls!(Raid);
