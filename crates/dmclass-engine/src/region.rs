//! Region size of the raid1 write-intent bitmap / dm-mirror dirty log.
//!
//! The bitmap is the just-resynchronisation (JRM) change log: after a leg was away,
//! only regions with a set bit are copied. the targets (docs/testing.md) want: after 1% of a volume
//! was written as scattered 64 KiB blocks, resync copies at most 2%. A 64 KiB write
//! touches at most two regions of 64 KiB (one when aligned), so regions must be at
//! most 64 KiB = 128 sectors: that is the JRM minimum.
//!
//! Upper bounds force bigger regions on big volumes:
//! * MD allows fewer than 2^21 regions per bitmap, so `region >= len / 2^21`
//!   (the kernel refuses smaller ones); with 128-sector regions this binds from
//!   128 GiB up, and the JRM target then degrades in proportion.
//! * The bitmap must fit the rmeta sub-device after the 4 KiB superblock and the
//!   256-byte bitmap header: with the 1 MiB rmeta that is 8,386,560 bits, more than
//!   2^21, so the MD limit always binds first (checked by a test).
//! * A dm-mirror disk log holds 1 KiB of header then one bit per region; the 1 MiB
//!   log holds 8,380,416 bits.
//!
//! The cost of small regions: each first write to a clean region waits for a bitmap
//! write, and dm-mirror splits bios at the region size. So volumes without JRM use
//! LVM's default of 2 MiB (4096 sectors), and a dm-mirror core log (which resyncs
//! everything on every activation anyway) uses it too.
//!
//! The region size is a power of two, fixed when a volume is created and stored in
//! its metadata; growing a volume recomputes it only if the old one became too small.

use crate::metadata::EngineMeta;
use dmclass_model::Sectors;

/// JRM region size: 64 KiB.
pub const JRM_REGION: Sectors = Sectors(128);
/// Region size without JRM (LVM's `raid_region_size` default, 2 MiB).
pub const DEFAULT_REGION: Sectors = Sectors(4096);
/// MD's limit on regions per bitmap.
pub const MD_MAX_REGIONS: u64 = 1 << 21;
/// Size of a raid1 rmeta sub-device and of a dm-mirror disk log (1 MiB).
pub const META_SIZE: Sectors = Sectors(2048);

/// Bits a raid1 rmeta of [`META_SIZE`] holds after superblock (4 KiB) and bitmap header.
pub fn rmeta_bitmap_bits() -> u64 {
    (META_SIZE.to_bytes().0 - 4096 - 256) * 8
}

/// Bits a dm-mirror disk log of [`META_SIZE`] holds after its 1 KiB header.
pub fn mirror_log_bits() -> u64 {
    (META_SIZE.to_bytes().0 - 1024) * 8
}

/// Region size for a volume of `len` sectors (see the module doc for the rule).
pub fn region_size(len: Sectors, engine: EngineMeta, jrm: bool) -> Sectors {
    let base = if jrm { JRM_REGION.0 } else { DEFAULT_REGION.0 };
    let max_regions = match engine {
        EngineMeta::Raid1 => MD_MAX_REGIONS.min(rmeta_bitmap_bits()),
        EngineMeta::Mirror => mirror_log_bits(),
    };
    let floor = len.0.div_ceil(max_regions).max(1);
    let mut r = base.max(floor.checked_next_power_of_two().unwrap_or(1 << 63));
    // Both targets require region <= target length; keep a power of two.
    while r > len.0 && r > 8 {
        r /= 2;
    }
    Sectors(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_jrm_volumes_get_64k_regions() {
        for gib in [1u64, 10, 100, 128] {
            let len = Sectors(gib << 21);
            assert_eq!(
                region_size(len, EngineMeta::Raid1, true),
                JRM_REGION,
                "{gib} GiB"
            );
        }
    }

    #[test]
    fn big_volumes_respect_the_md_limit() {
        let len = Sectors((128u64 << 21) + 1); // just over 128 GiB
        let r = region_size(len, EngineMeta::Raid1, true);
        assert_eq!(r, Sectors(256));
        assert!(len.0.div_ceil(r.0) <= MD_MAX_REGIONS);
        let tib16 = Sectors(16u64 << 31);
        let r = region_size(tib16, EngineMeta::Raid1, true);
        assert_eq!(r, Sectors(16_384));
        assert!(tib16.0.div_ceil(r.0) <= MD_MAX_REGIONS);
    }

    #[test]
    fn bitmap_always_fits_rmeta() {
        assert!(rmeta_bitmap_bits() >= MD_MAX_REGIONS);
    }

    #[test]
    fn without_jrm_default_region() {
        assert_eq!(
            region_size(Sectors(1 << 21), EngineMeta::Raid1, false),
            DEFAULT_REGION
        );
        assert_eq!(
            region_size(Sectors(1 << 21), EngineMeta::Mirror, false),
            DEFAULT_REGION
        );
    }

    #[test]
    fn region_never_exceeds_length_and_is_power_of_two() {
        for len in [2048u64, 3000, 4095, 1 << 40, u64::MAX] {
            for jrm in [true, false] {
                for e in [EngineMeta::Raid1, EngineMeta::Mirror] {
                    let r = region_size(Sectors(len), e, jrm).0;
                    assert!(r.is_power_of_two() && r <= len, "{len} {jrm} {e:?} -> {r}");
                }
            }
        }
        assert_eq!(
            region_size(Sectors(2048), EngineMeta::Raid1, false),
            Sectors(2048)
        );
    }
}
