//! Health figures of this host, as Stratos' agents reported them: the 1-minute load average per
//! core × 100, and used memory in percent. Parsing is separate from reading `/proc` so that it
//! can be tested on any input.

/// Load average of the last minute per core × 100, from `/proc/loadavg` text.
pub fn load_percent(loadavg: &str, cores: usize) -> Option<f64> {
    let one_minute: f64 = loadavg.split_whitespace().next()?.parse().ok()?;
    if !one_minute.is_finite() || one_minute < 0.0 || cores == 0 {
        return None;
    }
    Some(one_minute / cores as f64 * 100.0)
}

/// Used memory in percent (total minus available), from `/proc/meminfo` text.
pub fn memory_percent(meminfo: &str) -> Option<f64> {
    let field = |name: &str| -> Option<f64> {
        meminfo
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?;
    if total <= 0.0 || available < 0.0 || available > total {
        return None;
    }
    Some((total - available) / total * 100.0)
}

/// The figures of this host now; a figure that cannot be read is `None`, never zero.
pub fn sample() -> (Option<f64>, Option<f64>) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| load_percent(&t, cores));
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| memory_percent(&t));
    (load, memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_is_per_core_percent() {
        assert_eq!(load_percent("1.50 0.80 0.50 2/300 1234\n", 2), Some(75.0));
        assert_eq!(load_percent("0.00 0 0", 4), Some(0.0));
        assert_eq!(load_percent("", 2), None);
        assert_eq!(load_percent("x y", 2), None);
        assert_eq!(load_percent("1.0", 0), None);
    }

    #[test]
    fn memory_is_used_percent() {
        let text = "MemTotal:        1000 kB\nMemFree:   100 kB\nMemAvailable:     250 kB\n";
        assert_eq!(memory_percent(text), Some(75.0));
        assert_eq!(memory_percent("MemTotal: 1000 kB\n"), None);
        assert_eq!(
            memory_percent("MemTotal: 10 kB\nMemAvailable: 20 kB\n"),
            None
        );
        assert_eq!(
            memory_percent("MemTotalX: 10 kB\nMemAvailable: 5 kB\n"),
            None
        );
    }

    #[test]
    fn this_host_has_figures() {
        let (load, memory) = sample();
        assert!(load.is_some_and(|l| l >= 0.0));
        assert!(memory.is_some_and(|m| (0.0..=100.0).contains(&m)));
    }
}
