//! An environment's `/etc/fstab`: every line that mounts one of the class's volumes
//! names the environment's proxy of it instead.
//!
//! The copy holds the same file system UUIDs and labels as the masters (it is a block
//! copy), so `UUID=`, `LABEL=` and the masters' paths would mount the primary
//! environment's volumes from inside the copy. Only the first field of such lines
//! changes; comments, spacing and every other line stay byte for byte.

/// How the running system may name one volume, and the environment's name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeNames {
    /// `UUID=…`, `LABEL=…`, `/dev/dmclass/C/V`, `/dev/mapper/…`, by-uuid paths…
    pub names: Vec<String>,
    /// What the environment's line says instead (`/dev/dmclass/C/PROXY`).
    pub replacement: String,
}

/// The names of a volume: its file system's UUID and label (if it has them), its dm
/// device's paths, and the by-uuid/by-label links.
pub fn names_of(
    class: &str,
    volume: &str,
    dm_name: &str,
    fs_uuid: Option<&str>,
    fs_label: Option<&str>,
    replacement: String,
) -> VolumeNames {
    let mut names = vec![
        format!("/dev/dmclass/{class}/{volume}"),
        format!("/dev/mapper/{dm_name}"),
    ];
    if let Some(u) = fs_uuid.filter(|u| !u.is_empty()) {
        names.push(format!("UUID={u}"));
        names.push(format!("/dev/disk/by-uuid/{u}"));
    }
    if let Some(l) = fs_label.filter(|l| !l.is_empty()) {
        names.push(format!("LABEL={l}"));
        names.push(format!("/dev/disk/by-label/{l}"));
    }
    VolumeNames { names, replacement }
}

/// The names an environment's `/etc/fstab` gives its volumes (its proxies' paths, as
/// `bootenv create` wrote them), each with the class volume's path instead: the
/// fstab of a copy restored onto the class's own volumes mounts them again.
/// `dm_name(proxy)` is the proxy's device-mapper name.
pub fn primary_names(
    class: &str,
    env: &super::BootEnvMeta,
    dm_name: impl Fn(&str) -> Option<String>,
) -> Vec<VolumeNames> {
    env.volumes
        .iter()
        .map(|v| {
            let mut names = vec![format!("/dev/dmclass/{class}/{}", v.proxy)];
            names.extend(dm_name(&v.proxy).map(|d| format!("/dev/mapper/{d}")));
            VolumeNames {
                names,
                replacement: format!("/dev/dmclass/{class}/{}", v.volume),
            }
        })
        .collect()
}

/// A quoted tag value (`UUID="…"`) compared as unquoted, as libmount reads it.
fn unquoted(spec: &str) -> String {
    match spec.split_once('=') {
        Some((tag, v)) if !tag.starts_with('/') => {
            format!("{tag}={}", v.trim_matches(|c| c == '"' || c == '\''))
        }
        _ => spec.to_owned(),
    }
}

/// `text` with every mount of a volume in `volumes` renamed; also how many lines
/// changed.
pub fn rewrite(text: &str, volumes: &[VolumeNames]) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = 0;
    for line in text.split_inclusive('\n') {
        let start = line.len() - line.trim_start().len();
        let rest = &line[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let spec = &rest[..end];
        let new = (!spec.is_empty() && !spec.starts_with('#'))
            .then(|| unquoted(spec))
            .and_then(|s| {
                volumes
                    .iter()
                    .find(|v| v.names.contains(&s))
                    .map(|v| v.replacement.as_str())
            });
        match new {
            Some(r) => {
                out.push_str(&line[..start]);
                out.push_str(r);
                out.push_str(&rest[end..]);
                changed += 1;
            }
            None => out.push_str(line),
        }
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_names_become_the_proxies_and_nothing_else_moves() {
        let root = names_of(
            "sys",
            "root",
            "dmclass-sys-root",
            Some("1b2c"),
            Some("rootfs"),
            "/dev/dmclass/sys/up-root".into(),
        );
        let var = names_of(
            "sys",
            "var",
            "dmclass-sys-var",
            None,
            None,
            "/dev/dmclass/sys/up-var".into(),
        );
        let text = "# /etc/fstab\nUUID=1b2c / ext4 errors=remount-ro 0 1\n\
                    \tUUID=\"1b2c\"  /mnt  ext4 noauto 0 0\n\
                    /dev/mapper/dmclass-sys-var /var xfs defaults 0 2\n\
                    UUID=ABCD-1234 /boot/efi vfat umask=0077,nofail 0 1\n\
                    LABEL=rootfs /alt ext4 noauto 0 0\n\
                    #UUID=1b2c / ext4 old 0 1\n\
                    /dev/dmclass/sys/root /x ext4 noauto";
        let (new, n) = rewrite(text, &[root, var]);
        assert_eq!(n, 5);
        assert_eq!(
            new,
            "# /etc/fstab\n/dev/dmclass/sys/up-root / ext4 errors=remount-ro 0 1\n\
             \t/dev/dmclass/sys/up-root  /mnt  ext4 noauto 0 0\n\
             /dev/dmclass/sys/up-var /var xfs defaults 0 2\n\
             UUID=ABCD-1234 /boot/efi vfat umask=0077,nofail 0 1\n\
             /dev/dmclass/sys/up-root /alt ext4 noauto 0 0\n\
             #UUID=1b2c / ext4 old 0 1\n\
             /dev/dmclass/sys/up-root /x ext4 noauto"
        );
        // Nothing to rename: the same bytes.
        let (same, n) = rewrite(text, &[]);
        assert_eq!((same.as_str(), n), (text, 0));
    }

    #[test]
    fn a_promoted_copy_names_the_class_volumes_again() {
        let env = crate::bootenv::BootEnvMeta {
            name: "up".into(),
            created: 1,
            volumes: vec![
                crate::bootenv::EnvVolume {
                    volume: "root".into(),
                    proxy: "up-root".into(),
                },
                crate::bootenv::EnvVolume {
                    volume: "var".into(),
                    proxy: "up-var".into(),
                },
            ],
            root: Some("up-root".into()),
            state: crate::bootenv::BootEnvState::Ready,
            promote: true,
        };
        let names = primary_names("sys", &env, |p| Some(format!("dmclass-sys-{p}")));
        let text = "/dev/dmclass/sys/up-root / ext4 errors=remount-ro 0 1\n\
                    /dev/mapper/dmclass-sys-up-var /var xfs defaults 0 2\n\
                    UUID=ABCD-1234 /boot/efi vfat umask=0077,nofail 0 1\n";
        let (new, n) = rewrite(text, &names);
        assert_eq!(n, 2);
        assert_eq!(
            new,
            "/dev/dmclass/sys/root / ext4 errors=remount-ro 0 1\n\
             /dev/dmclass/sys/var /var xfs defaults 0 2\n\
             UUID=ABCD-1234 /boot/efi vfat umask=0077,nofail 0 1\n"
        );
        // Again (a boot cut after the rewrite): nothing more to change.
        assert_eq!(rewrite(&new, &names), (new.clone(), 0));
    }
}
