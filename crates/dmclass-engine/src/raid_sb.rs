//! The dm-raid superblock at the start of each leg's `_rmeta` device, and which legs
//! of a raid1 volume hold a complete copy of its data.
//!
//! The kernel keeps its own record of every leg in these superblocks (dm-raid.c,
//! `struct dm_raid_superblock`, little-endian): an event counter, a bit per leg that
//! failed while the array ran (`failed_devices`), and how far the leg's recovery got
//! (`disk_recovery_offset`, all ones once the leg is complete). Activation reads them
//! before it hands the kernel a table, so it never asks for an array the kernel will
//! refuse (`Insufficient redundancy to activate array`, a bare `EINVAL`) and can say
//! in words which disk holds the only complete copy.
//!
//! The kernel's rule, followed here: the superblock with the highest event count is
//! the reference; a leg is in sync when its own recovery offset is "max sector" and
//! the reference does not record it failed. Legs rebuilt with the table's `rebuild N`
//! parameter, and legs without a superblock, are not in sync.
//!
//! The simulated kernel writes superblocks with [`RaidSuperblock::encode`], so the
//! simulator and the real kernel are read by the same decoder.

use crate::layout::SliceState;

/// "DmRd" as a little-endian u32 at byte 0.
pub const MAGIC: [u8; 4] = *b"DmRd";
/// `disk_recovery_offset` of a leg whose recovery is complete (the kernel's `MaxSector`).
pub const RECOVERY_DONE: u64 = u64::MAX;
/// Bytes of the superblock that carry fields (the rest of the sector is zero).
pub const SB_LEN: usize = 148;
/// Bytes read to decode a superblock (one sector).
pub const READ_LEN: usize = 512;
/// Feature flag: the 1.9.0 extensions (extended failed-devices words) are present.
const FEATURE_V190: u32 = 1;

/// The fields of a dm-raid superblock dmclass uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidSuperblock {
    /// Legs in the array.
    pub num_devices: u32,
    /// This leg's position.
    pub array_position: u32,
    /// md event counter: the highest is the reference.
    pub events: u64,
    /// Bit per leg recorded failed (up to 256 legs: the 1.9.0 extension words).
    pub failed: [u64; 4],
    /// How far this leg's recovery got, in sectors; [`RECOVERY_DONE`] when complete.
    pub recovery_offset: u64,
    /// Progress of the array's initial resync (not used to judge a leg).
    pub resync_offset: u64,
    /// raid level (1 for raid1).
    pub level: u32,
    /// Data sectors of this leg.
    pub sectors: u64,
}

/// What the first sector of an `_rmeta` device holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbRead {
    /// A dm-raid superblock.
    Valid(RaidSuperblock),
    /// No dm-raid magic: a fresh (zeroed) metadata device.
    Blank,
    /// The read failed, or the superblock is not one dmclass can trust.
    Unreadable(String),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl RaidSuperblock {
    /// Decode the start of an `_rmeta` device (untrusted bytes: never panics).
    pub fn decode(b: &[u8]) -> SbRead {
        if b.get(..4) != Some(&MAGIC[..]) {
            return SbRead::Blank;
        }
        let fields = (|| {
            let compat = u32_at(b, 4)?;
            let mut failed = [u64_at(b, 24)?, 0, 0, 0];
            if compat & FEATURE_V190 != 0 {
                for (i, w) in failed.iter_mut().skip(1).enumerate() {
                    *w = u64_at(b, 120 + 8 * i)?;
                }
            }
            Some(RaidSuperblock {
                num_devices: u32_at(b, 8)?,
                array_position: u32_at(b, 12)?,
                events: u64_at(b, 16)?,
                failed,
                recovery_offset: u64_at(b, 32)?,
                resync_offset: u64_at(b, 40)?,
                level: u32_at(b, 48)?,
                sectors: if compat & FEATURE_V190 != 0 {
                    u64_at(b, 112)?
                } else {
                    0
                },
            })
        })();
        match fields {
            None => SbRead::Unreadable(format!("dm-raid superblock truncated ({} bytes)", b.len())),
            Some(sb) if sb.num_devices == 0 || sb.num_devices > 256 => {
                SbRead::Unreadable(format!("dm-raid superblock names {} legs", sb.num_devices))
            }
            Some(sb) => SbRead::Valid(sb),
        }
    }

    /// The superblock as the kernel lays it out (one sector), for the simulated kernel
    /// and tests.
    pub fn encode(&self) -> [u8; READ_LEN] {
        let mut b = [0u8; READ_LEN];
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(0, &MAGIC);
        put(4, &FEATURE_V190.to_le_bytes());
        put(8, &self.num_devices.to_le_bytes());
        put(12, &self.array_position.to_le_bytes());
        put(16, &self.events.to_le_bytes());
        put(24, &self.failed[0].to_le_bytes());
        put(32, &self.recovery_offset.to_le_bytes());
        put(40, &self.resync_offset.to_le_bytes());
        put(48, &self.level.to_le_bytes());
        put(64, &u64::MAX.to_le_bytes()); // reshape_position: none
        put(112, &self.sectors.to_le_bytes());
        for (i, w) in self.failed.iter().skip(1).enumerate() {
            put(120 + 8 * i, &w.to_le_bytes());
        }
        b
    }

    /// Whether this superblock records leg `leg` failed.
    pub fn records_failed(&self, leg: usize) -> bool {
        self.failed
            .get(leg / 64)
            .is_some_and(|w| w & (1u64 << (leg % 64)) != 0)
    }

    /// Mark leg `leg` failed (or not).
    pub fn set_failed(&mut self, leg: usize, failed: bool) {
        if let Some(w) = self.failed.get_mut(leg / 64) {
            let bit = 1u64 << (leg % 64);
            if failed {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }
}

/// One leg of a raid1 volume as activation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegView {
    /// Disk names of the leg (for messages).
    pub disks: Vec<String>,
    /// Stable id of the leg's first disk (serial, WWN or by-id link), for messages.
    pub id: String,
    /// Whether every disk of the leg is present.
    pub present: bool,
    /// Recorded slice state.
    pub state: SliceState,
    /// What its `_rmeta` holds (`None` when not read: absent leg).
    pub sb: Option<SbRead>,
    /// Data sectors of the leg (for the resync percentage).
    pub sectors: u64,
}

/// What activation may do with a raid1 volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start it; `rebuild` lists the legs to rebuild in full from the complete ones.
    Start {
        /// Legs loaded with `rebuild N`.
        rebuild: Vec<usize>,
        /// Legs holding a complete copy.
        complete: Vec<usize>,
    },
    /// No present leg holds a complete copy: the reason in words.
    Refuse(String),
}

/// Why a present leg is not complete, or `None` when it is. `reference` is the
/// superblock with the highest event count among the present legs.
fn incomplete_reason(i: usize, l: &LegView, reference: Option<&RaidSuperblock>) -> Option<String> {
    let name = l.disks.join("+");
    match (&l.state, &l.sb) {
        (SliceState::Copy, _) => Some(format!("{name} is to be rebuilt (COPY)")),
        (SliceState::Invalid, _) => Some(format!("{name} left the mirror (INVALID)")),
        (SliceState::Active, Some(SbRead::Valid(sb))) => {
            if usize::try_from(sb.array_position).ok() != Some(i) {
                Some(format!(
                    "{name} holds the superblock of leg {} instead of leg {i}",
                    sb.array_position
                ))
            } else if reference.is_some_and(|r| r.records_failed(i)) {
                Some(format!(
                    "{name} failed while the mirror ran and was not resynced"
                ))
            } else if sb.recovery_offset != RECOVERY_DONE {
                let total = if sb.sectors > 0 {
                    sb.sectors
                } else {
                    l.sectors
                };
                let pct = if total == 0 {
                    0
                } else {
                    u128::from(sb.recovery_offset.min(total)) * 100 / u128::from(total)
                };
                Some(format!("{name} is {pct}% resynced"))
            } else {
                None
            }
        }
        (SliceState::Active, Some(SbRead::Blank)) => {
            Some(format!("{name} has no dm-raid superblock yet"))
        }
        (SliceState::Active, Some(SbRead::Unreadable(why))) => Some(format!("{name}: {why}")),
        (SliceState::Active, None) => Some(format!("{name} was not read")),
        (s, _) => Some(format!("{name} is {s:?}")),
    }
}

/// Whether an incomplete present leg must be loaded with `rebuild N` (a full copy)
/// rather than left to the kernel. The kernel finishes two cases correctly by
/// itself: a leg that was complete when it failed (a bitmap re-add of the regions
/// written since), and a leg whose recovery stopped half way without being recorded
/// failed (it resumes at the recorded offset). Everything else is rebuilt in full: a
/// leg recorded COPY, one without a trustworthy superblock, and above all a leg
/// whose recovery stopped half way *and* that the reference records failed — the
/// kernel would take it for a transient failure and copy only the bitmap's regions,
/// leaving the rest of the leg as it was (seen on a real kernel: a rebuild cut by a
/// power loss, the other leg started alone once, then both: the leg reported in
/// sync with stale data).
fn needs_rebuild(i: usize, l: &LegView, reference: Option<&RaidSuperblock>) -> bool {
    if l.state == SliceState::Copy {
        return true;
    }
    let Some(SbRead::Valid(sb)) = &l.sb else {
        return true;
    };
    if usize::try_from(sb.array_position).ok() != Some(i) {
        return true;
    }
    let failed = reference.is_some_and(|r| r.records_failed(i));
    // A leg dmclass recorded INVALID that no superblock records failed: the kernel
    // would take it as in sync; its bitmap record is lost, so copy it all.
    if l.state == SliceState::Invalid && !failed {
        return true;
    }
    sb.recovery_offset != RECOVERY_DONE && failed
}

/// Whether the superblock read from a returning leg's `_rmeta` allows a bitmap
/// re-add (the leg was complete when it left); anything else needs a full rebuild.
pub fn allows_bitmap_readd(read: &SbRead) -> bool {
    matches!(read, SbRead::Valid(sb) if sb.recovery_offset == RECOVERY_DONE)
}

/// Decide from the recorded states and the superblocks which legs of `volume`
/// (`class/volume`, for messages) hold a complete copy, which need `rebuild`, and
/// whether it can start at all.
pub fn judge(volume: &str, legs: &[LegView]) -> Verdict {
    let reference = legs
        .iter()
        .filter(|l| l.present)
        .filter_map(|l| match &l.sb {
            Some(SbRead::Valid(sb)) => Some(sb),
            _ => None,
        })
        .max_by_key(|sb| sb.events);
    let any_missing = legs.iter().any(|l| !l.present);
    // No superblock anywhere and nothing missing: a new array the kernel creates now.
    if reference.is_none() && !any_missing {
        let rebuild = (0..legs.len())
            .filter(|&i| legs[i].state == SliceState::Copy)
            .collect();
        let complete = (0..legs.len())
            .filter(|&i| legs[i].state != SliceState::Copy)
            .collect();
        return Verdict::Start { rebuild, complete };
    }
    let mut rebuild = Vec::new();
    let mut complete = Vec::new();
    let mut reasons = Vec::new();
    for (i, l) in legs.iter().enumerate() {
        if !l.present {
            continue;
        }
        match incomplete_reason(i, l, reference) {
            None => complete.push(i),
            Some(why) => {
                if needs_rebuild(i, l, reference) {
                    rebuild.push(i);
                }
                reasons.push(why);
            }
        }
    }
    if !complete.is_empty() {
        return Verdict::Start { rebuild, complete };
    }
    let holders: Vec<String> = legs
        .iter()
        .filter(|l| !l.present && l.state == SliceState::Active)
        .map(|l| format!("disk {} ({})", l.disks.join("+"), l.id))
        .collect();
    let head = match holders.len() {
        0 => format!("no complete copy of {volume} is on the disks present"),
        1 => format!(
            "the only complete copy of {volume} is on {}, which is missing",
            holders[0]
        ),
        _ => format!(
            "the complete copies of {volume} are on {}, which are missing",
            holders.join(", ")
        ),
    };
    if reasons.is_empty() {
        Verdict::Refuse(head)
    } else {
        Verdict::Refuse(format!("{head}; {}", reasons.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(pos: u32, events: u64, recovery: u64) -> RaidSuperblock {
        RaidSuperblock {
            num_devices: 2,
            array_position: pos,
            events,
            failed: [0; 4],
            recovery_offset: recovery,
            resync_offset: RECOVERY_DONE,
            level: 1,
            sectors: 1000,
        }
    }

    /// A present leg whose `_rmeta` holds `s`.
    fn with_sb(name: &str, state: SliceState, s: RaidSuperblock) -> LegView {
        leg(name, true, state, Some(SbRead::Valid(s)))
    }

    fn leg(name: &str, present: bool, state: SliceState, sb: Option<SbRead>) -> LegView {
        LegView {
            disks: vec![name.into()],
            id: format!("serial-{name}"),
            present,
            state,
            sb,
            sectors: 1000,
        }
    }

    #[test]
    fn superblock_round_trips_and_decodes_kernel_offsets() {
        let mut s = sb(1, 42, 430);
        s.set_failed(0, true);
        s.set_failed(130, true);
        let b = s.encode();
        assert_eq!(&b[..4], b"DmRd");
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 42);
        assert_eq!(u64::from_le_bytes(b[32..40].try_into().unwrap()), 430);
        assert_eq!(RaidSuperblock::decode(&b), SbRead::Valid(s.clone()));
        assert!(s.records_failed(0) && s.records_failed(130) && !s.records_failed(1));
        s.set_failed(0, false);
        assert!(!s.records_failed(0));
    }

    #[test]
    fn hostile_superblocks_never_panic() {
        assert_eq!(RaidSuperblock::decode(&[]), SbRead::Blank);
        assert_eq!(RaidSuperblock::decode(&[0; 512]), SbRead::Blank);
        assert!(matches!(
            RaidSuperblock::decode(b"DmRd\x01\0\0"),
            SbRead::Unreadable(_)
        ));
        let mut b = sb(0, 1, RECOVERY_DONE).encode();
        b[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(RaidSuperblock::decode(&b), SbRead::Unreadable(_)));
        for n in 0..200 {
            let _ = RaidSuperblock::decode(&b[..n]);
        }
    }

    #[test]
    fn resynced_returned_leg_alone_is_complete() {
        let legs = [
            leg("d1", false, SliceState::Active, None),
            with_sb("d2", SliceState::Active, sb(1, 9, RECOVERY_DONE)),
        ];
        assert_eq!(
            judge("acc/vol1", &legs),
            Verdict::Start {
                rebuild: vec![],
                complete: vec![1]
            }
        );
    }

    #[test]
    fn half_resynced_leg_alone_is_refused_in_words() {
        let legs = [
            leg("d1", false, SliceState::Active, None),
            with_sb("d2", SliceState::Active, sb(1, 9, 430)),
        ];
        let Verdict::Refuse(why) = judge("acc/vol1", &legs) else {
            panic!("started")
        };
        assert_eq!(
            why,
            "the only complete copy of acc/vol1 is on disk d1 (serial-d1), which is missing; \
             d2 is 43% resynced"
        );
    }

    #[test]
    fn leg_recorded_failed_by_the_reference_is_not_a_source() {
        let mut s0 = sb(0, 20, RECOVERY_DONE);
        s0.set_failed(1, true);
        let legs = [
            with_sb("d1", SliceState::Active, s0),
            with_sb("d2", SliceState::Active, sb(1, 12, RECOVERY_DONE)),
            leg("d3", false, SliceState::Active, None),
        ];
        assert_eq!(
            judge("a/v", &legs),
            Verdict::Start {
                rebuild: vec![],
                complete: vec![0]
            }
        );
    }

    #[test]
    fn copy_and_blank_legs_are_rebuilt_from_a_complete_one() {
        let legs = [
            with_sb("d1", SliceState::Active, sb(0, 5, RECOVERY_DONE)),
            leg("d2", true, SliceState::Copy, Some(SbRead::Blank)),
            leg("d3", true, SliceState::Active, Some(SbRead::Blank)),
        ];
        assert_eq!(
            judge("a/v", &legs),
            Verdict::Start {
                rebuild: vec![1, 2],
                complete: vec![0]
            }
        );
    }

    #[test]
    fn half_recovered_leg_recorded_failed_is_rebuilt_in_full() {
        let mut s0 = sb(0, 30, RECOVERY_DONE);
        s0.set_failed(1, true);
        let half = |failed: bool| {
            let mut r = s0.clone();
            r.set_failed(1, failed);
            [
                with_sb("d1", SliceState::Active, r),
                with_sb("d2", SliceState::Active, sb(1, 20, 210)),
            ]
        };
        // Recorded failed: the kernel would copy only the bitmap's regions.
        assert_eq!(
            judge("a/v", &half(true)),
            Verdict::Start {
                rebuild: vec![1],
                complete: vec![0]
            }
        );
        // Not recorded failed: the kernel resumes at the recorded offset.
        assert_eq!(
            judge("a/v", &half(false)),
            Verdict::Start {
                rebuild: vec![],
                complete: vec![0]
            }
        );
        // INVALID but recorded failed nowhere: rebuilt in full.
        let mut plain = s0.clone();
        plain.set_failed(1, false);
        let legs = [
            with_sb("d1", SliceState::Active, plain),
            with_sb("d2", SliceState::Invalid, sb(1, 20, RECOVERY_DONE)),
        ];
        assert_eq!(
            judge("a/v", &legs),
            Verdict::Start {
                rebuild: vec![1],
                complete: vec![0]
            }
        );
        // Complete when it failed: a bitmap re-add is right.
        let legs = [
            with_sb("d1", SliceState::Active, s0.clone()),
            with_sb("d2", SliceState::Invalid, sb(1, 20, RECOVERY_DONE)),
        ];
        assert_eq!(
            judge("a/v", &legs),
            Verdict::Start {
                rebuild: vec![],
                complete: vec![0]
            }
        );
    }

    #[test]
    fn copy_leg_alone_is_refused_not_rebuilt_from_nothing() {
        let legs = [
            leg("d1", false, SliceState::Active, None),
            with_sb("d2", SliceState::Copy, sb(1, 5, RECOVERY_DONE)),
        ];
        let Verdict::Refuse(why) = judge("a/v", &legs) else {
            panic!()
        };
        assert!(why.contains("d2 is to be rebuilt (COPY)"), "{why}");
    }

    #[test]
    fn new_array_without_superblocks_starts() {
        let legs = [
            leg("d1", true, SliceState::Active, Some(SbRead::Blank)),
            leg("d2", true, SliceState::Active, Some(SbRead::Blank)),
        ];
        assert_eq!(
            judge("a/v", &legs),
            Verdict::Start {
                rebuild: vec![],
                complete: vec![0, 1]
            }
        );
    }
}
