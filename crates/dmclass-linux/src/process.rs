//! Process-level setup for the command-line tool.

/// Restore the default SIGPIPE action, so `dmclass status | head` ends quietly like
/// other Unix tools instead of failing on a write to a closed pipe (Rust ignores
/// SIGPIPE by default).
pub fn default_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL installs no handler code; it is
    // done once at start-up before any thread is spawned.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
}

/// The search path for the tools dmclass runs (`sanlock`, `modprobe`, `udevadm`, …).
pub const TOOL_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Give the process a `PATH` when it has none: udev runs `RUN+=` programs with the
/// device's properties as their whole environment, and without a `PATH` a tool is
/// looked up in `/bin:/usr/bin` only, so `sanlock` (in `/usr/sbin`) was not found
/// and a udev-run handler of a shared class silently did nothing. A `PATH` that is
/// set is left as it is.
pub fn default_path() {
    if std::env::var_os("PATH").is_none_or(|p| p.is_empty()) {
        // Done once at start-up, before any thread is spawned.
        std::env::set_var("PATH", TOOL_PATH);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tool_path_has_the_sbin_directories() {
        let dirs: Vec<&str> = super::TOOL_PATH.split(':').collect();
        for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            assert!(dirs.contains(&d), "{d}");
        }
    }
}
