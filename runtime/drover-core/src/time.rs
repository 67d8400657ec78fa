//! Time as drover stores it: milliseconds since the Unix epoch (UTC).

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
