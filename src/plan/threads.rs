//! How many sender threads a scan runs when `-T` does not say.
//!
//! The default follows the CPUs this process may run on, not the CPUs the machine has:
//! a scan started under `taskset`, in a container with a CPU limit or in a Slurm
//! allocation gets as many senders as it has CPUs there. Where more than two CPUs are
//! available one is left to the receiver, which must keep up with the replies; on one or
//! two CPUs every CPU sends, since on two a second sender nearly doubles the rate (1.76
//! against 3.29 Mpps measured with `-r 0`) and the receiver rarely needs a core of its own
//! at such rates. The rate cap (10 000 pps by default) is not changed by this: more
//! threads share the same cap.

/// The most sender threads the default chooses. Eight `sendmmsg` senders already reach
/// about the minimum-frame rate of a 10 GbE link; beyond that more threads only add
/// sockets and memory. `-T` may ask for more (up to [`crate::config::MAX_THREADS`]).
pub const DEFAULT_MAX: u32 = 8;

/// The default number of sender threads for a process that may run on `cpus` CPUs.
pub fn default_for(cpus: usize) -> u32 {
    let cpus = u32::try_from(cpus).unwrap_or(u32::MAX).max(1);
    let senders = if cpus > 2 { cpus - 1 } else { cpus };
    senders.min(DEFAULT_MAX)
}

/// CPUs this process may run on: its affinity mask (`sched_getaffinity`), lowered by a
/// cgroup CPU quota where there is one, as the standard library reads them. One if they
/// cannot be read.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The default number of sender threads for this process.
pub fn default_sender_threads() -> u32 {
    default_for(available_cpus())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_core_for_the_receiver_above_two() {
        let table = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 2),
            (4, 3),
            (8, 7),
            (9, 8),
            (64, 8),
        ];
        for (cpus, senders) in table {
            assert_eq!(default_for(cpus), senders, "{cpus} CPUs");
        }
    }

    #[test]
    fn follows_the_affinity_mask() {
        // The test process's own mask, read independently through /proc.
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list")
            .trim();
        let mut n = 0;
        for part in list.split(',') {
            n += match part.split_once('-') {
                Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
                None => 1,
            };
        }
        // A cgroup quota may lower the figure, never raise it.
        assert!(available_cpus() >= 1 && available_cpus() <= n, "{list}");
    }
}
