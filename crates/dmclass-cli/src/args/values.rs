//! Typed command-line values, parsed by clap (`value_parser`): a bad value is a usage
//! error (exit status 2) reported against its argument (`--size`, `<CLASS/NAME>`), never
//! a refusal with a position in a configuration the admin did not write.

use dmclass_model::{Bytes, Name, MAX_COPY_RATE};

/// `CLASS/NAME` (or `CLASS/VOLUME`, `CLASS/MASTER`): two valid names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjRef {
    /// The class.
    pub class: String,
    /// The volume, snapshot or proxy in it.
    pub name: String,
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.class, self.name)
    }
}

/// Parse `CLASS/NAME`.
pub fn obj_ref(s: &str) -> Result<ObjRef, String> {
    let Some((class, name)) = s.split_once('/') else {
        return Err("expected CLASS/NAME: a class name, `/`, and a name in the class".into());
    };
    let class = Name::new(class).map_err(|e| format!("class: {e}"))?;
    let name = Name::new(name).map_err(|e| format!("name after the class: {e}"))?;
    Ok(ObjRef {
        class: class.0,
        name: name.0,
    })
}

/// A name of a new object (snapshot, proxy) or a group.
pub fn name(s: &str) -> Result<String, String> {
    Name::new(s).map(|n| n.0).map_err(|e| e.to_string())
}

/// A device size: a positive whole number of 512-byte sectors (`256MiB`).
pub fn device_size(s: &str) -> Result<Bytes, String> {
    let b = Bytes::parse(s).map_err(|e| e.to_string())?;
    if b.0 == 0 || b.0 % 512 != 0 {
        return Err(format!(
            "{b} is not a positive multiple of 512 bytes (e.g. 256MiB)"
        ));
    }
    Ok(b)
}

/// A COW chunk size: a power of two from 4 KiB to 512 KiB.
pub fn chunk(s: &str) -> Result<Bytes, String> {
    let b = Bytes::parse(s).map_err(|e| e.to_string())?;
    if !b.is_power_of_two() || b.0 < 4 << 10 || b.0 > 512 << 10 {
        return Err(format!(
            "{b} is not a power of two from 4KiB to 512KiB (e.g. 64KiB)"
        ));
    }
    Ok(b)
}

/// `--copy-rate`: `default` (no limit of dmclass's own) or a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyRate(pub Option<Bytes>);

/// Parse `--copy-rate`: `default`, or a whole number of KiB from 1KiB to 1TiB.
pub fn copy_rate(s: &str) -> Result<CopyRate, String> {
    if s == "default" {
        return Ok(CopyRate(None));
    }
    let accepted =
        "a whole number of KiB from 1KiB to 1TiB per second per disk (e.g. 50MiB), or `default`";
    let b = Bytes::parse(s).map_err(|e| format!("{e}; expected {accepted}"))?;
    if b.0 == 0 || b.0 % 1024 != 0 || b > MAX_COPY_RATE {
        return Err(format!("{b} is out of range; expected {accepted}"));
    }
    Ok(CopyRate(Some(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_references() {
        assert_eq!(
            obj_ref("data/vol1"),
            Ok(ObjRef {
                class: "data".into(),
                name: "vol1".into()
            })
        );
        for bad in ["vol1", "/vol1", "data/", "data/a/b", "da ta/v", "data/-v"] {
            assert!(obj_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_chunks_and_rates() {
        assert_eq!(device_size("256MiB"), Ok(Bytes(256 << 20)));
        for bad in ["1.5GiB", "0", "100B", "fast", "-1MiB"] {
            assert!(device_size(bad).is_err(), "{bad}");
        }
        assert_eq!(chunk("64KiB"), Ok(Bytes(64 << 10)));
        for bad in ["3KiB", "2KiB", "1MiB", "x"] {
            assert!(chunk(bad).is_err(), "{bad}");
        }
        assert_eq!(copy_rate("default"), Ok(CopyRate(None)));
        assert_eq!(copy_rate("50MiB"), Ok(CopyRate(Some(Bytes(50 << 20)))));
        for bad in ["fast", "0", "1000B", "2TiB"] {
            let e = copy_rate(bad).map(|_| ()).unwrap_err();
            assert!(e.contains("default"), "{bad}: {e}");
        }
    }
}
