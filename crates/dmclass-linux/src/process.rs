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
