//! The machine's clocks, read the same way by every part of the runtime.
//! (The simulators' paused clock is tokio's, not these.)

/// The wall clock in Unix milliseconds (what operators read; never used
/// to order anything).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// CLOCK_MONOTONIC in microseconds.
pub fn monotonic_us() -> u64 {
    monotonic_ns() / 1000
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the
/// machine (the daemons' records, the warden's moments).
pub fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}
