//! An environment's kernel command line: the running one with the root named anew.
//!
//! The boot entry of an environment passes this line to the loader as its load
//! options (a unified kernel image's stub takes them instead of its built-in line
//! when Secure Boot is off; the kernel's own EFI stub always does). Everything the
//! admin set stays (console, `ro`, `quiet`, `initrd=` for the kernel's stub), only
//! what names the root changes.

/// The longest command line x86 Linux accepts (`COMMAND_LINE_SIZE`).
pub const MAX_CMDLINE: usize = 2048;

/// Words that name the root or a dmclass root, replaced in an environment's line.
fn names_root(word: &str) -> bool {
    ["root=", "dmclass.root=", "rootflags=", "BOOT_IMAGE="]
        .iter()
        .any(|p| word.starts_with(p))
}

/// The command line that boots `root_proxy` of `class`, from `running` (the running
/// system's `/proc/cmdline`). `None` when the result would be longer than the
/// kernel accepts.
pub fn env_cmdline(running: &str, class: &str, root_proxy: &str) -> Option<String> {
    let mut words: Vec<&str> = running
        .split_ascii_whitespace()
        .filter(|w| !names_root(w))
        .collect();
    let root = format!("root=/dev/dmclass/{class}/{root_proxy}");
    let want = format!("dmclass.root={class}/{root_proxy}");
    words.push(&root);
    words.push(&want);
    let line = words.join(" ");
    (line.len() < MAX_CMDLINE).then_some(line)
}

/// The `dmclass.root=CLASS/VOLUME` a running system was booted with, if any.
pub fn booted_root(running: &str) -> Option<(&str, &str)> {
    running
        .split_ascii_whitespace()
        .rev()
        .find_map(|w| w.strip_prefix("dmclass.root="))
        .and_then(|v| v.split_once('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_named_anew_and_everything_else_stays() {
        let running = "BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet console=ttyS0 \
                       rootflags=data=ordered dmclass.degraded_wait=5";
        assert_eq!(
            env_cmdline(running, "sys", "upgrade-root").unwrap(),
            "ro quiet console=ttyS0 dmclass.degraded_wait=5 \
             root=/dev/dmclass/sys/upgrade-root dmclass.root=sys/upgrade-root"
        );
        // From inside another environment: its own root words go.
        let inside = "root=/dev/dmclass/sys/a-root dmclass.root=sys/a-root ro";
        assert_eq!(
            env_cmdline(inside, "sys", "b-root").unwrap(),
            "ro root=/dev/dmclass/sys/b-root dmclass.root=sys/b-root"
        );
        assert_eq!(booted_root(inside), Some(("sys", "a-root")));
        assert_eq!(booted_root("ro quiet"), None);
        assert!(env_cmdline(&"x".repeat(2100), "sys", "r").is_none());
    }
}
