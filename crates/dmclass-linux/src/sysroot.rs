//! An injectable root for `/sys`, `/proc` and `/dev` paths, so tests run on fake trees.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The directory that stands for `/` when reading sysfs, procfs and `/dev`.
///
/// Production code uses [`SysRoot::default()`] (`/`); tests point it at a temporary
/// directory holding a fake `sys/...` tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysRoot(PathBuf);

impl Default for SysRoot {
    fn default() -> Self {
        SysRoot(PathBuf::from("/"))
    }
}

impl SysRoot {
    /// A root at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SysRoot(dir.into())
    }

    /// The root directory itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// `abs` (an absolute path such as `/sys/block`) under this root.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        self.0.join(abs.strip_prefix("/").unwrap_or(abs))
    }

    /// Whether `abs` exists under this root (a dangling symlink counts as absent).
    pub fn exists(&self, abs: impl AsRef<Path>) -> bool {
        self.path(abs).exists()
    }

    /// Reads a small text file (sysfs attribute) verbatim, minus one trailing newline.
    ///
    /// Sysfs values keep their inner and trailing blanks (SCSI inquiry strings are padded),
    /// so only the newline the kernel appends is removed. Invalid UTF-8 is replaced.
    pub fn read_attr(&self, abs: impl AsRef<Path>) -> io::Result<String> {
        // Bounded: a sysroot under test (or a misbehaving driver) may offer any file.
        let bytes =
            dmclass_model::input::read_capped(&self.path(abs), dmclass_model::input::SYSFS_CAP)
                .map_err(|e| io::Error::other(e.to_string()))?;
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// Like [`read_attr`](Self::read_attr) but `None` when the file is missing or
    /// unreadable, and trimmed; an empty value is `None` too.
    pub fn read_trimmed(&self, abs: impl AsRef<Path>) -> Option<String> {
        let text = self.read_attr(abs).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }

    /// Names of the entries of directory `abs`, sorted; empty when it cannot be read.
    pub fn list_dir(&self, abs: impl AsRef<Path>) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.path(abs)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A throw-away directory tree for tests (no tempfile crate in the build).

    use std::fs;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A temporary directory removed on drop.
    pub struct TempTree(pub PathBuf);

    impl TempTree {
        pub fn new(tag: &str) -> Self {
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let dir = std::env::temp_dir()
                .join(format!("dmclass-linux-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        /// Writes `content` at `rel` (an absolute-looking path inside the tree).
        pub fn write(&self, rel: &str, content: &str) {
            let p = self.0.join(rel.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }

        /// Creates directory `rel`.
        pub fn mkdir(&self, rel: &str) {
            fs::create_dir_all(self.0.join(rel.trim_start_matches('/'))).unwrap();
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::TempTree;
    use super::*;

    #[test]
    fn paths_are_joined_under_the_root() {
        let r = SysRoot::new("/tmp/x");
        assert_eq!(r.path("/sys/block"), PathBuf::from("/tmp/x/sys/block"));
        assert_eq!(SysRoot::default().path("/sys"), PathBuf::from("/sys"));
    }

    #[test]
    fn attributes_keep_padding_but_lose_the_newline() {
        let t = TempTree::new("attr");
        t.write("/sys/a", "VMware  \n");
        t.write("/sys/empty", "  \n");
        let r = SysRoot::new(t.path());
        assert_eq!(r.read_attr("/sys/a").unwrap(), "VMware  ");
        assert_eq!(r.read_trimmed("/sys/a").as_deref(), Some("VMware"));
        assert_eq!(r.read_trimmed("/sys/empty"), None);
        assert_eq!(r.read_trimmed("/sys/missing"), None);
        assert!(r.read_attr("/sys/missing").is_err());
    }
}
