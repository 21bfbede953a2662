//! dm-mirror: `mirror <log type> <#log args> <log args> <#mirrors> (<dev> <offset>)...
//! [<#features> <feature>...]`, the log being `core R [sync|nosync]` or
//! `disk <dev> R [sync|nosync]`.

use super::{quote, DevOffset, Emit, ParseError, Words};
use dmclass_model::Sectors;
use std::fmt::{self};
use std::str::FromStr;

/// Where the dirty log lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MirrorLog<D> {
    /// In memory (`core`): every region is resynced after a restart.
    Core,
    /// On a device (`disk <dev>`).
    Disk(D),
}

/// The dirty log's optional sync argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogSync {
    /// `sync`: resync everything.
    Sync,
    /// `nosync`: consider the legs in sync.
    Nosync,
}

/// A dm-mirror feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MirrorFeature {
    /// `handle_errors`: a failing leg is dropped and an event raised.
    HandleErrors,
    /// `keep_log`: keep the log device when it fails (needs `handle_errors`).
    KeepLog,
}

impl MirrorFeature {
    fn word(self) -> &'static str {
        match self {
            MirrorFeature::HandleErrors => "handle_errors",
            MirrorFeature::KeepLog => "keep_log",
        }
    }
}

/// A dm-mirror table's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mirror<D> {
    /// Dirty log.
    pub log: MirrorLog<D>,
    /// Region size.
    pub region: Sectors,
    /// The log's sync argument, when given.
    pub sync: Option<LogSync>,
    /// Legs.
    pub legs: Vec<DevOffset<D>>,
    /// Features (none printed when empty, as the kernel prints it).
    pub features: Vec<MirrorFeature>,
}

impl<D> Mirror<D> {
    /// Reads the parameters.
    pub(crate) fn take(w: &mut Words<'_>) -> Result<Self, ParseError>
    where
        D: FromStr,
    {
        let kind = w.word("log type")?;
        let nlog: u64 = w.num("log argument count")?;
        let (log, with_sync) = match (kind, nlog) {
            ("core", 1 | 2) => (MirrorLog::Core, nlog == 2),
            ("disk", 2 | 3) => (MirrorLog::Disk(w.dev()?), nlog == 3),
            ("core" | "disk", _) => {
                return Err(ParseError::BadCount {
                    what: "log argument",
                    count: nlog,
                })
            }
            (other, _) => {
                return Err(ParseError::Unknown {
                    what: "log type",
                    word: quote(other),
                })
            }
        };
        let region = w.sectors("region size")?;
        let sync = if with_sync {
            Some(match w.word("sync argument")? {
                "sync" => LogSync::Sync,
                "nosync" => LogSync::Nosync,
                o => {
                    return Err(ParseError::Unknown {
                        what: "sync argument",
                        word: quote(o),
                    })
                }
            })
        } else {
            None
        };
        let n: u64 = w.num("mirror count")?;
        let mut legs = Vec::new();
        for _ in 0..n {
            legs.push(DevOffset::take(w)?);
        }
        let mut features = Vec::new();
        if !w.is_empty() {
            let nf: u64 = w.num("feature count")?;
            for _ in 0..nf {
                features.push(match w.word("feature")? {
                    "handle_errors" => MirrorFeature::HandleErrors,
                    "keep_log" => MirrorFeature::KeepLog,
                    o => {
                        return Err(ParseError::Unknown {
                            what: "mirror feature",
                            word: quote(o),
                        })
                    }
                });
            }
        }
        Ok(Mirror {
            log,
            region,
            sync,
            legs,
            features,
        })
    }

    /// Writes the parameters.
    pub fn emit(&self, out: &mut Emit<'_, D>) -> fmt::Result {
        let sync = usize::from(self.sync.is_some());
        match &self.log {
            MirrorLog::Core => {
                out.word("core")?;
                out.word(1 + sync)?;
            }
            MirrorLog::Disk(d) => {
                out.word("disk")?;
                out.word(2 + sync)?;
                out.dev(d)?;
            }
        }
        out.sectors(self.region)?;
        match self.sync {
            Some(LogSync::Sync) => out.word("sync")?,
            Some(LogSync::Nosync) => out.word("nosync")?,
            None => {}
        }
        out.word(self.legs.len())?;
        for l in &self.legs {
            l.emit(out)?;
        }
        out.features(self.features.iter().map(|f| f.word()))
    }

    /// The same with every device turned into `f(dev)`.
    pub fn try_map<E, X>(&self, f: &mut impl FnMut(&D) -> Result<E, X>) -> Result<Mirror<E>, X> {
        Ok(Mirror {
            log: match &self.log {
                MirrorLog::Core => MirrorLog::Core,
                MirrorLog::Disk(d) => MirrorLog::Disk(f(d)?),
            },
            region: self.region,
            sync: self.sync,
            legs: self
                .legs
                .iter()
                .map(|l| l.try_map(f))
                .collect::<Result<_, _>>()?,
            features: self.features.clone(),
        })
    }
}

super::text_impls!(Mirror);
