//! Timing GET requests for the API and UI benchmarks: warm-up rounds,
//! measured rounds, and a "median p90 max" line.

use std::time::{Duration, Instant};

/// GETs `url` (`warmup + rounds` times, with `auth` as the
/// Authorization header), hands the first body to `check`, and returns
/// the measured rounds' times, sorted.
pub fn time_gets(
    agent: &ureq::Agent,
    url: &str,
    auth: &str,
    warmup: usize,
    rounds: usize,
    mut check: impl FnMut(&str),
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..warmup + rounds {
        let t = Instant::now();
        let mut resp = agent
            .get(url)
            .header("authorization", auth)
            .call()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap();
        let took = t.elapsed();
        if i == 0 {
            check(&body);
        }
        if i >= warmup {
            times.push(took);
        }
    }
    times.sort();
    times
}

/// Prints `name` (padded to `width`) with the median, p90 and max of
/// sorted `times`.
pub fn print_row(name: &str, width: usize, times: &[Duration]) {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let n = times.len();
    println!(
        "{name:<width$} {:>10} {:>10} {:>10}",
        ms(times[n / 2]),
        ms(times[n * 9 / 10]),
        ms(times[n - 1])
    );
}
