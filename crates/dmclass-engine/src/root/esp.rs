//! The EFI system partition copied to every disk of a root class.
//!
//! Firmware reads an ESP without dm, and boot loaders write to it (systemd-boot's
//! random seed at every boot), so it is never mirrored at block level: each disk gets
//! its own copy, made once at conversion by copying the keep disk's ESP sector for
//! sector, then given its own FAT volume serial so `/dev/disk/by-uuid` tells the copies
//! apart. Later changes reach every ESP by file copies (the boot-file hook).
//!
//! The serial sits in the FAT boot sector (Microsoft's FAT specification, "BPB"):
//! `BS_VolID` at byte 67 on FAT32 (whose `BPB_FATSz16` at byte 22 is 0, and whose
//! backup boot sector, `BPB_BkBootSec` at byte 50, carries the serial too), at
//! byte 39 on FAT12/16; either after the extended boot signature 0x29.

/// Where a FAT boot sector keeps its volume serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatSerial {
    /// Byte offset of `BS_VolID` in the boot sector.
    pub at: usize,
    /// Byte offset, from the file system's start, of the FAT32 backup boot sector
    /// (which carries the serial too), if any.
    pub backup: Option<u64>,
}

/// Find the volume serial of the FAT boot sector `b` (at least 512 bytes).
pub fn fat_serial(b: &[u8]) -> Result<FatSerial, String> {
    let b = b
        .get(..512)
        .ok_or("the boot sector is shorter than 512 bytes")?;
    if b[510..512] != [0x55, 0xaa] {
        return Err("no boot sector signature 55 AA: not a FAT file system".into());
    }
    let bytes_per_sector = u16::from_le_bytes([b[11], b[12]]);
    if !matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096) {
        return Err(format!(
            "{bytes_per_sector} bytes per sector in the BPB: not a FAT file system"
        ));
    }
    let fat16_size = u16::from_le_bytes([b[22], b[23]]);
    if fat16_size == 0 {
        if b[66] != 0x29 {
            return Err("FAT32 without an extended boot signature: no volume serial".into());
        }
        let bk = u16::from_le_bytes([b[50], b[51]]);
        // 0 or 0xFFFF: no backup; anything else must lie in the reserved sectors.
        let reserved = u16::from_le_bytes([b[14], b[15]]);
        let backup = (bk != 0 && bk != 0xffff && bk < reserved)
            .then(|| u64::from(bk) * u64::from(bytes_per_sector));
        Ok(FatSerial { at: 67, backup })
    } else {
        if b[38] != 0x29 {
            return Err("FAT12/16 without an extended boot signature: no volume serial".into());
        }
        Ok(FatSerial {
            at: 39,
            backup: None,
        })
    }
}

/// Write `serial` into the boot sector `b` at `s`.
pub fn set_serial(b: &mut [u8], s: FatSerial, serial: u32) {
    if let Some(f) = b.get_mut(s.at..s.at + 4) {
        f.copy_from_slice(&serial.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fat32() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[14..16].copy_from_slice(&32u16.to_le_bytes()); // reserved sectors
        b[50..52].copy_from_slice(&6u16.to_le_bytes()); // backup boot sector
        b[66] = 0x29;
        b[67..71].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    #[test]
    fn fat32_serial_and_its_backup_are_found_and_changed() {
        let mut b = fat32();
        let s = fat_serial(&b).unwrap();
        assert_eq!(
            s,
            FatSerial {
                at: 67,
                backup: Some(6 * 512)
            }
        );
        set_serial(&mut b, s, 0xdead_beef);
        assert_eq!(b[67..71], 0xdead_beefu32.to_le_bytes());
    }

    #[test]
    fn fat16_serial_is_at_byte_39() {
        let mut b = fat32();
        b[22..24].copy_from_slice(&64u16.to_le_bytes());
        b[38] = 0x29;
        assert_eq!(fat_serial(&b).unwrap().at, 39);
    }

    #[test]
    fn not_fat_is_refused_without_panic() {
        assert!(fat_serial(&[0u8; 100]).is_err());
        assert!(fat_serial(&[0u8; 512]).is_err());
        let mut b = fat32();
        b[11] = 3;
        assert!(fat_serial(&b).is_err());
        let mut b = fat32();
        b[66] = 0;
        assert!(fat_serial(&b).is_err());
        // a backup pointer outside the reserved sectors is ignored
        let mut b = fat32();
        b[50..52].copy_from_slice(&40u16.to_le_bytes());
        assert_eq!(fat_serial(&b).unwrap().backup, None);
    }
}
