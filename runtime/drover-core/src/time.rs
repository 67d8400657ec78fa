//! Time as drover stores it: milliseconds since the Unix epoch (UTC).

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A time as drover shows it everywhere (CLI, API, fleet messages):
/// `2026-11-25T23:40:01Z`, to the second, UTC. A value out of range is
/// shown as the number it is.
pub fn fmt_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_to_the_second() {
        assert_eq!(super::fmt_time(1_764_114_001_999), "2025-11-25T23:40:01Z");
        assert_eq!(super::fmt_time(i64::MAX), i64::MAX.to_string());
    }
}
