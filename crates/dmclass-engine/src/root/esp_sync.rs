//! Keeping every ESP of a root class equal to the one the system updates.
//!
//! Boot files change on one ESP only (the one mounted at `/boot/efi`: a kernel or
//! initramfs update, a boot loader update). The other disks' ESPs are brought to the
//! same files by file copies, never at block level (see [`super::esp`]). This module
//! decides the copies from the two file trees; the CLI's `esp sync` walks the trees,
//! compares contents and runs the steps.
//!
//! FAT compares names without case, so the trees are matched by the lower-cased path;
//! files the firmware or boot loader keeps per ESP ([`per_esp`]) are never copied or
//! removed.

use std::collections::BTreeMap;

/// One entry of an ESP's file tree, by its path from the ESP's root (`/`-separated,
/// no leading slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspEntry {
    /// Path from the ESP's root.
    pub path: String,
    /// A directory, or a file of this many bytes.
    pub kind: EntryKind,
}

/// What an [`EspEntry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File(u64),
}

/// One step that brings a target ESP to the source's files, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// Create this directory (parents come first in the list).
    MakeDir(String),
    /// Copy this file (source path) over the target's file of the same name (target
    /// path, which may differ in case) or as a new file.
    Copy {
        /// Path on the source ESP.
        from: String,
        /// Path on the target ESP.
        to: String,
        /// Bytes to copy.
        size: u64,
    },
    /// Remove this file of the target (the source has none of that name).
    Remove(String),
    /// Remove this directory of the target (empty by then; children come first).
    RemoveDir(String),
}

/// Files that belong to one ESP and are never synced: systemd-boot's random seed
/// (rewritten at every boot; one seed copied to several disks would be reused).
pub fn per_esp(path: &str) -> bool {
    const OWN: &[&str] = &["loader/random-seed"];
    let p = path.to_ascii_lowercase();
    OWN.contains(&p.as_str())
}

fn key(path: &str) -> String {
    path.to_ascii_lowercase()
}

fn depth(path: &str) -> usize {
    path.matches('/').count()
}

/// The steps that make `to` hold the files of `from` (directories made, files copied
/// where `same(from_path, to_path)` says the contents differ, files and directories
/// the source lacks removed). Copies come before removals, so a cut sync leaves every
/// old boot file or its replacement in place.
pub fn plan_sync(
    from: &[EspEntry],
    to: &[EspEntry],
    mut same: impl FnMut(&str, &str) -> bool,
) -> Vec<SyncStep> {
    let src: BTreeMap<String, &EspEntry> = from
        .iter()
        .filter(|e| !per_esp(&e.path))
        .map(|e| (key(&e.path), e))
        .collect();
    let dst: BTreeMap<String, &EspEntry> = to
        .iter()
        .filter(|e| !per_esp(&e.path))
        .map(|e| (key(&e.path), e))
        .collect();
    let mut dirs = Vec::new();
    let mut copies = Vec::new();
    // Type clashes (file <-> directory) are cleared before any copy or mkdir.
    let mut clash = Vec::new();
    let mut removals = Vec::new();
    let mut removed_dirs = Vec::new();
    for (k, e) in &src {
        let there = dst.get(k);
        match (e.kind, there.map(|t| t.kind)) {
            (EntryKind::Dir, Some(EntryKind::Dir)) => {}
            (EntryKind::Dir, Some(EntryKind::File(_))) => {
                clash.push(SyncStep::Remove(
                    there.map_or_else(String::new, |t| t.path.clone()),
                ));
                dirs.push(e.path.clone());
            }
            (EntryKind::Dir, None) => dirs.push(e.path.clone()),
            (EntryKind::File(size), Some(EntryKind::File(tsize))) => {
                let to = there.map_or_else(|| e.path.clone(), |t| t.path.clone());
                if size != tsize || !same(&e.path, &to) {
                    copies.push(SyncStep::Copy {
                        from: e.path.clone(),
                        to,
                        size,
                    });
                }
            }
            (EntryKind::File(size), Some(EntryKind::Dir)) => {
                // A directory where the source has a file: it goes first (rare; the
                // copy cannot be made before).
                let to = there.map_or_else(|| e.path.clone(), |t| t.path.clone());
                removed_dirs_under(&dst, k, &mut clash);
                clash.push(SyncStep::RemoveDir(to));
                copies.push(SyncStep::Copy {
                    from: e.path.clone(),
                    to: e.path.clone(),
                    size,
                });
            }
            (EntryKind::File(size), None) => copies.push(SyncStep::Copy {
                from: e.path.clone(),
                to: e.path.clone(),
                size,
            }),
        }
    }
    for (k, t) in &dst {
        if src.contains_key(k) || under_replaced(&src, k) {
            continue;
        }
        match t.kind {
            EntryKind::File(_) => removals.push(SyncStep::Remove(t.path.clone())),
            EntryKind::Dir => removed_dirs.push(t.path.clone()),
        }
    }
    dirs.sort_by_key(|d| depth(d));
    removed_dirs.sort_by_key(|d| std::cmp::Reverse(depth(d)));
    clash
        .into_iter()
        .chain(dirs.into_iter().map(SyncStep::MakeDir))
        .chain(copies)
        .chain(removals)
        .chain(removed_dirs.into_iter().map(SyncStep::RemoveDir))
        .collect()
}

/// The target's entries under directory `dir` (which the source has as a file),
/// children first.
fn removed_dirs_under(dst: &BTreeMap<String, &EspEntry>, dir: &str, out: &mut Vec<SyncStep>) {
    let prefix = format!("{dir}/");
    let mut inner: Vec<&&EspEntry> = dst
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, e)| e)
        .collect();
    inner.sort_by_key(|e| std::cmp::Reverse(depth(&e.path)));
    for e in inner {
        out.push(match e.kind {
            EntryKind::File(_) => SyncStep::Remove(e.path.clone()),
            EntryKind::Dir => SyncStep::RemoveDir(e.path.clone()),
        });
    }
}

/// Whether target key `k` lies under a directory the source has as a file (its
/// removal is already planned by [`removed_dirs_under`]).
fn under_replaced(src: &BTreeMap<String, &EspEntry>, k: &str) -> bool {
    let mut p = k;
    while let Some(i) = p.rfind('/') {
        p = &p[..i];
        if src
            .get(p)
            .is_some_and(|e| matches!(e.kind, EntryKind::File(_)))
        {
            return true;
        }
    }
    false
}

/// Bytes the steps copy.
pub fn bytes_to_copy(steps: &[SyncStep]) -> u64 {
    steps
        .iter()
        .map(|s| match s {
            SyncStep::Copy { size, .. } => *size,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(p: &str) -> EspEntry {
        EspEntry {
            path: p.into(),
            kind: EntryKind::Dir,
        }
    }
    fn f(p: &str, n: u64) -> EspEntry {
        EspEntry {
            path: p.into(),
            kind: EntryKind::File(n),
        }
    }

    #[test]
    fn equal_trees_need_nothing() {
        let t = vec![d("EFI"), d("EFI/BOOT"), f("EFI/BOOT/BOOTX64.EFI", 10)];
        assert!(plan_sync(&t, &t, |_, _| true).is_empty());
    }

    #[test]
    fn a_changed_kernel_is_copied_an_old_one_removed_after() {
        let from = vec![
            d("EFI"),
            d("EFI/Linux"),
            f("EFI/Linux/new.efi", 30),
            f("EFI/BOOT/BOOTX64.EFI", 10),
            d("EFI/BOOT"),
        ];
        let to = vec![
            d("efi"),
            d("efi/linux"),
            f("efi/linux/old.efi", 20),
            d("EFI/boot"),
            f("EFI/boot/bootx64.efi", 10),
        ];
        // same size, different content: copied over the target's own name
        let steps = plan_sync(&from, &to, |_, _| false);
        assert_eq!(
            steps,
            vec![
                SyncStep::Copy {
                    from: "EFI/BOOT/BOOTX64.EFI".into(),
                    to: "EFI/boot/bootx64.efi".into(),
                    size: 10
                },
                SyncStep::Copy {
                    from: "EFI/Linux/new.efi".into(),
                    to: "EFI/Linux/new.efi".into(),
                    size: 30
                },
                SyncStep::Remove("efi/linux/old.efi".into()),
            ]
        );
        assert_eq!(bytes_to_copy(&steps), 40);
        // equal contents are left alone
        let steps = plan_sync(&from, &to, |_, _| true);
        assert_eq!(steps.len(), 2);
    }

    #[test]
    fn new_directories_come_parent_first_removed_ones_child_first() {
        let from = vec![d("a"), d("a/b"), d("a/b/c"), f("a/b/c/x", 1)];
        let to = vec![d("old"), d("old/deep"), f("old/deep/y", 1)];
        let steps = plan_sync(&from, &to, |_, _| true);
        assert_eq!(
            steps,
            vec![
                SyncStep::MakeDir("a".into()),
                SyncStep::MakeDir("a/b".into()),
                SyncStep::MakeDir("a/b/c".into()),
                SyncStep::Copy {
                    from: "a/b/c/x".into(),
                    to: "a/b/c/x".into(),
                    size: 1
                },
                SyncStep::Remove("old/deep/y".into()),
                SyncStep::RemoveDir("old/deep".into()),
                SyncStep::RemoveDir("old".into()),
            ]
        );
    }

    #[test]
    fn the_random_seed_stays_each_esps_own() {
        let from = vec![d("loader"), f("loader/random-seed", 32)];
        let to = vec![d("loader"), f("LOADER/RANDOM-SEED", 32)];
        assert!(plan_sync(&from, &to, |_, _| false).is_empty());
        assert!(plan_sync(&from, &[d("loader")], |_, _| false).is_empty());
    }

    #[test]
    fn a_type_clash_is_cleared_before_the_copy() {
        let from = vec![f("x", 5), d("y")];
        let to = vec![d("x"), f("x/inner", 1), f("y", 2)];
        let steps = plan_sync(&from, &to, |_, _| true);
        assert_eq!(
            steps,
            vec![
                SyncStep::Remove("x/inner".into()),
                SyncStep::RemoveDir("x".into()),
                SyncStep::Remove("y".into()),
                SyncStep::MakeDir("y".into()),
                SyncStep::Copy {
                    from: "x".into(),
                    to: "x".into(),
                    size: 5
                },
            ]
        );
    }
}
