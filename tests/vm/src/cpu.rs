//! Host CPU accounting for the VM tier's harness: the CPU time each scenario's QEMUs
//! used (how busy it kept the host: its share of the tier's floor, all QEMU time over
//! the cores) and the host's idle time (a scenario whose guests wait for timers leaves
//! a core free that another scenario can use).

use std::cell::Cell;
use std::time::Duration;

/// Linux reports process times in USER_HZ ticks, 100 per second on every architecture
/// it exports them for (`sysconf(_SC_CLK_TCK)`).
const TICK: Duration = Duration::from_millis(10);

thread_local! {
    /// QEMU CPU time recorded on this thread (a scenario runs its VMs on one thread).
    static USED: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The CPU time (user + system) of the QEMU processes this thread stopped since the
/// last call: one scenario's, called after it ends.
#[must_use]
pub fn take_qemu_cpu_time() -> Duration {
    USED.with(|u| u.replace(Duration::ZERO))
}

/// Adds the CPU time of QEMU process `pid`, read just before it is killed.
pub(crate) fn record(pid: u32) {
    if let Some(t) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .as_deref()
        .and_then(process_cpu_time)
    {
        USED.with(|u| u.set(u.get() + t));
    }
}

/// utime + stime of a `/proc/PID/stat` line (fields 14 and 15; the command name in
/// parentheses may hold spaces, so count after its closing parenthesis).
fn process_cpu_time(stat: &str) -> Option<Duration> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u32 = fields.next()?.parse().ok()?;
    let stime: u32 = fields.next()?.parse().ok()?;
    Some(TICK * utime.checked_add(stime)?)
}

/// The host's CPU counters: idle and total ticks over all cores since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTicks {
    /// Ticks idle or waiting for I/O.
    pub idle: u64,
    /// All ticks.
    pub total: u64,
}

impl HostTicks {
    /// Reads the first line of `/proc/stat`; `None` when it cannot be read.
    #[must_use]
    pub fn now() -> Option<HostTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(stat.lines().next()?)
    }

    /// `cpu  user nice system idle iowait irq softirq steal ...`
    fn parse(line: &str) -> Option<HostTicks> {
        let mut f = line.split_whitespace();
        if f.next()? != "cpu" {
            return None;
        }
        let v: Vec<u64> = f.map(|x| x.parse().ok()).collect::<Option<_>>()?;
        // guest and guest_nice (9th, 10th) are already counted in user and nice
        let total = v.iter().take(8).try_fold(0u64, |a, x| a.checked_add(*x))?;
        let idle = v.get(3)?.checked_add(*v.get(4)?)?;
        Some(HostTicks { idle, total })
    }

    /// Idle cores between `earlier` and `self` on a host with `cores` cores (0.0 to
    /// `cores`); `None` when no tick passed.
    #[must_use]
    pub fn idle_cores_since(&self, earlier: &HostTicks, cores: usize) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total).filter(|t| *t > 0)?;
        let idle = self.idle.checked_sub(earlier.idle)?;
        #[allow(clippy::cast_precision_loss)]
        Some(idle as f64 / total as f64 * cores as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_times_are_read_after_the_name() {
        let line = "4242 (qemu-system-x86 (x) ) S 1 4242 4242 0 -1 4194560 9 0 0 0 \
                    1234 56 0 0 20 0 3 0 100 0 0";
        assert_eq!(process_cpu_time(line), Some(Duration::from_millis(12_900)));
        assert_eq!(process_cpu_time("4242 (qemu) S 1"), None);
        assert_eq!(process_cpu_time("no parenthesis"), None);
    }

    #[test]
    fn host_idle_cores_between_two_samples() {
        let a = HostTicks::parse("cpu  100 0 100 800 0 0 0 0 0 0").unwrap();
        let b = HostTicks::parse("cpu  250 0 150 850 50 0 0 0 0 0").unwrap();
        assert_eq!(
            a,
            HostTicks {
                idle: 800,
                total: 1000
            }
        );
        // 300 ticks passed, 100 of them idle: a third of 2 cores
        let idle = b.idle_cores_since(&a, 2).unwrap();
        assert!((idle - 2.0 / 3.0).abs() < 1e-9, "{idle}");
        assert_eq!(a.idle_cores_since(&a, 2), None);
        assert_eq!(HostTicks::parse("intr 1 2 3"), None);
        assert_eq!(HostTicks::parse("cpu  1 x 3"), None);
    }
}
