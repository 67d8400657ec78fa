//! Counters of the pipeline, rendered in Prometheus' text format for
//! `GET /metrics`. Plain atomics: incrementing costs nothing measurable on
//! the hot path; the queue depth is read from the store when scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use drover_core::{EnforcementState, ExecStatus};

#[derive(Default)]
pub struct Metrics {
    pub(crate) triggers_accepted: AtomicU64,
    pub(crate) triggers_rejected: AtomicU64,
    pub(crate) triggers_processed: AtomicU64,
    enforcements: [AtomicU64; 3],
    executions: [AtomicU64; 5],
    /// Sum of queue-to-stored latencies, microseconds, and their count.
    latency_us_sum: AtomicU64,
}

fn enforcement_index(s: EnforcementState) -> usize {
    match s {
        EnforcementState::Scheduled => 0,
        EnforcementState::Failed => 1,
        EnforcementState::Suppressed => 2,
    }
}

fn status_index(s: ExecStatus) -> usize {
    match s {
        ExecStatus::Succeeded => 0,
        ExecStatus::Failed => 1,
        ExecStatus::Denied => 2,
        ExecStatus::Timeout => 3,
        ExecStatus::Canceled => 4,
    }
}

impl Metrics {
    pub(crate) fn enforcement(&self, s: EnforcementState) {
        self.enforcements[enforcement_index(s)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn execution(&self, s: ExecStatus, latency_us: u64) {
        self.executions[status_index(s)].fetch_add(1, Ordering::Relaxed);
        self.latency_us_sum.fetch_add(latency_us, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the queue depth given.
    pub fn render(&self, queued: u64, running: u64) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        metric(
            "drover_triggers_total",
            "counter",
            "Trigger instances by outcome at intake and in the rules stage.",
            &[
                (
                    "{outcome=\"accepted\"}".into(),
                    get(&self.triggers_accepted).to_string(),
                ),
                (
                    "{outcome=\"rejected\"}".into(),
                    get(&self.triggers_rejected).to_string(),
                ),
                (
                    "{outcome=\"processed\"}".into(),
                    get(&self.triggers_processed).to_string(),
                ),
            ],
        );
        let states = [
            EnforcementState::Scheduled,
            EnforcementState::Failed,
            EnforcementState::Suppressed,
        ];
        metric(
            "drover_enforcements_total",
            "counter",
            "Rule enforcements by state.",
            &states.map(|s| {
                (
                    format!("{{state=\"{}\"}}", s.as_str()),
                    get(&self.enforcements[enforcement_index(s)]).to_string(),
                )
            }),
        );
        metric(
            "drover_executions_total",
            "counter",
            "Executions run by the scheduler, by status.",
            &ExecStatus::ALL.map(|s| {
                (
                    format!("{{status=\"{}\"}}", s.as_str()),
                    get(&self.executions[status_index(s)]).to_string(),
                )
            }),
        );
        let done: u64 = self.executions.iter().map(get).sum();
        metric(
            "drover_execution_latency_seconds_sum",
            "counter",
            "Sum of the time from request to stored result of scheduled executions.",
            &[(
                String::new(),
                format!("{:.6}", get(&self.latency_us_sum) as f64 / 1e6),
            )],
        );
        metric(
            "drover_execution_latency_seconds_count",
            "counter",
            "Number of scheduled executions in the latency sum.",
            &[(String::new(), done.to_string())],
        );
        metric(
            "drover_queue_depth",
            "gauge",
            "Execution requests waiting and running.",
            &[
                ("{state=\"requested\"}".into(), queued.to_string()),
                ("{state=\"running\"}".into(), running.to_string()),
            ],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_in_prometheus_text() {
        let m = Metrics::default();
        m.enforcement(EnforcementState::Scheduled);
        m.execution(ExecStatus::Succeeded, 1500);
        let text = m.render(3, 1);
        assert!(
            text.contains("drover_enforcements_total{state=\"scheduled\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("drover_executions_total{status=\"succeeded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("drover_queue_depth{state=\"requested\"} 3"),
            "{text}"
        );
        assert!(text.contains("# TYPE drover_queue_depth gauge"), "{text}");
    }
}
