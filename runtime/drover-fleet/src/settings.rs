//! The controller's settings, stored as JSON under `fleet_settings`: the
//! storm brake (configuration and state), the global pause, maintenance
//! windows, escalation ladders per node class, and default timeouts.

use std::collections::BTreeMap;

use jiff::civil::{Time, Weekday};
use serde::{Deserialize, Serialize};

use crate::FleetError;
use crate::driver::PowerAction;
use crate::model::Node;

/// The storm brake: when more than `threshold_percent` of the inventory
/// became unhealthy (an automatic request about it, or intervention)
/// within `window_ms`, automatic effects stop until an operator releases
/// it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Brake {
    pub threshold_percent: f64,
    pub window_ms: i64,
    #[serde(default)]
    pub engaged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engaged_at_ms: Option<i64>,
    #[serde(default)]
    pub reason: String,
    /// Signals before the last release do not count again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
}

impl Default for Brake {
    fn default() -> Self {
        Brake {
            threshold_percent: 5.0,
            window_ms: 10 * 60 * 1000,
            engaged: false,
            engaged_at_ms: None,
            reason: String::new(),
            released_at_ms: None,
            released_by: None,
        }
    }
}

impl Brake {
    /// Whether `unhealthy` of `total` nodes trips the brake.
    pub fn trips(&self, unhealthy: usize, total: usize) -> bool {
        total > 0 && unhealthy as f64 * 100.0 > self.threshold_percent * total as f64
    }

    /// Signals from this time on count: within the window, and after the
    /// last release.
    pub fn counting_from(&self, now_ms: i64) -> i64 {
        (now_ms - self.window_ms).max(self.released_at_ms.map_or(i64::MIN, |t| t + 1))
    }
}

/// The global pause: no queued request starts; in-flight ones finish.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub since_ms: i64,
    pub by: String,
    pub reason: String,
}

/// A maintenance window, like kured's reboot window: on these days, from
/// `start` to `end` (local time in `tz`; an `end` before `start` runs past
/// midnight into the next day). `selector` limits it to some nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub name: String,
    /// `mon`, `tue`, … (empty: every day).
    pub days: Vec<String>,
    /// `HH:MM`.
    pub start: String,
    pub end: String,
    /// IANA time zone, e.g. `Europe/Zurich`, or `UTC`.
    pub tz: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn parse_time(field: &str, text: &str) -> Result<Time, FleetError> {
    let (h, m) = text
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
        .ok_or_else(|| {
            FleetError::Invalid(format!("window {field} {text:?}: write HH:MM, e.g. 02:00"))
        })?;
    Time::new(h, m, 0, 0).map_err(|e| FleetError::Invalid(format!("window {field} {text:?}: {e}")))
}

impl Window {
    /// Checks days, times, zone and selector.
    pub fn validate(&self) -> Result<(), FleetError> {
        for d in &self.days {
            if !DAYS.iter().any(|(n, _)| n == d) {
                return Err(FleetError::Invalid(format!(
                    "window day {d:?}: use mon, tue, wed, thu, fri, sat, sun"
                )));
            }
        }
        parse_time("start", &self.start)?;
        parse_time("end", &self.end)?;
        jiff::tz::TimeZone::get(&self.tz).map_err(|e| {
            FleetError::Invalid(format!(
                "window time zone {:?}: {e} (use an IANA name such as Europe/Zurich, or UTC)",
                self.tz
            ))
        })?;
        if let Some(s) = &self.selector {
            drover_policy::Selector::parse(s)
                .map_err(|e| FleetError::Invalid(format!("window selector {s:?}: {e}")))?;
        }
        Ok(())
    }

    pub fn covers(&self, node: &Node) -> bool {
        match &self.selector {
            None => true,
            Some(s) => drover_policy::Selector::parse(s)
                .map(|sel| sel.matches(&node.name, &node.labels))
                .unwrap_or(false),
        }
    }

    /// Whether `now_ms` is inside the window.
    pub fn is_open(&self, now_ms: i64) -> bool {
        let (Ok(start), Ok(end), Ok(tz)) = (
            parse_time("start", &self.start),
            parse_time("end", &self.end),
            jiff::tz::TimeZone::get(&self.tz),
        ) else {
            return false;
        };
        let Ok(ts) = jiff::Timestamp::from_millisecond(now_ms) else {
            return false;
        };
        let local = ts.to_zoned_datetime(tz);
        let t = local.time();
        let day_ok = |d: Weekday| {
            self.days.is_empty()
                || DAYS
                    .iter()
                    .any(|(n, w)| *w == d && self.days.iter().any(|x| x == n))
        };
        let today = local.weekday();
        if start <= end {
            day_ok(today) && t >= start && t < end
        } else {
            // Past midnight: the window belongs to the day it started.
            (day_ok(today) && t >= start) || (day_ok(today.previous()) && t < end)
        }
    }
}

/// One rung of an escalation ladder: a power action and how long to wait
/// for the node to come back before the next rung.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub action: RungAction,
    pub timeout_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RungAction {
    GracefulRestart,
    ForceRestart,
}

impl RungAction {
    pub fn power(self) -> PowerAction {
        match self {
            RungAction::GracefulRestart => PowerAction::GracefulRestart,
            RungAction::ForceRestart => PowerAction::ForceRestart,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RungAction::GracefulRestart => "graceful-restart",
            RungAction::ForceRestart => "force-restart",
        }
    }
}

/// Parses `graceful-restart:10m,force-restart:5m` (also `graceful`, `force`).
pub fn parse_ladder(text: &str) -> Result<Vec<Rung>, FleetError> {
    let mut rungs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (action, timeout) = part.split_once(':').ok_or_else(|| {
            FleetError::Invalid(format!(
                "ladder step {part:?}: write ACTION:TIMEOUT, e.g. graceful-restart:10m"
            ))
        })?;
        let action = match action.trim() {
            "graceful" | "graceful-restart" => RungAction::GracefulRestart,
            "force" | "force-restart" => RungAction::ForceRestart,
            other => {
                return Err(FleetError::Invalid(format!(
                    "ladder action {other:?}: use graceful-restart or force-restart"
                )));
            }
        };
        let d = humantime::parse_duration(timeout.trim()).map_err(|e| {
            FleetError::Invalid(format!("ladder timeout {timeout:?}: {e} (e.g. 10m)"))
        })?;
        rungs.push(Rung {
            action,
            timeout_ms: d.as_millis() as i64,
        });
    }
    if rungs.is_empty() {
        return Err(FleetError::Invalid(
            "a ladder needs at least one step, e.g. graceful-restart:10m,force-restart:5m".into(),
        ));
    }
    Ok(rungs)
}

/// Every setting the controller reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub brake: Brake,
    pub pause: Option<Pause>,
    pub windows: Vec<Window>,
    /// Per node class (`class` label); `default` for the rest.
    pub ladders: BTreeMap<String, Vec<Rung>>,
    /// How long a drain may take when the request does not say.
    pub drain_timeout_ms: i64,
    /// How long a node may take to come back from a reboot, all rungs.
    pub reboot_timeout_ms: i64,
    /// How long giving a node back (undrain) may take.
    pub restore_timeout_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            brake: Brake::default(),
            pause: None,
            windows: Vec::new(),
            ladders: BTreeMap::from([(
                "default".to_owned(),
                vec![
                    Rung {
                        action: RungAction::GracefulRestart,
                        timeout_ms: 10 * 60 * 1000,
                    },
                    Rung {
                        action: RungAction::ForceRestart,
                        timeout_ms: 10 * 60 * 1000,
                    },
                ],
            )]),
            drain_timeout_ms: 60 * 60 * 1000,
            reboot_timeout_ms: 30 * 60 * 1000,
            restore_timeout_ms: 10 * 60 * 1000,
        }
    }
}

impl Settings {
    pub fn ladder(&self, class: &str) -> &[Rung] {
        self.ladders
            .get(class)
            .or_else(|| self.ladders.get("default"))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether a window covering `node` is open at `now_ms`.
    pub fn window_open(&self, node: &Node, now_ms: i64) -> bool {
        self.windows
            .iter()
            .any(|w| w.covers(node) && w.is_open(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: &str) -> i64 {
        t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn windows_follow_days_times_and_zones() {
        let w = Window {
            name: "nights".into(),
            days: vec!["mon".into(), "tue".into()],
            start: "22:00".into(),
            end: "04:00".into(),
            tz: "Europe/Zurich".into(),
            selector: None,
        };
        w.validate().unwrap();
        // 2026-11-23 is a Monday; Zurich is UTC+1 in November.
        assert!(w.is_open(ms("2026-11-23T21:30:00Z"))); // Mon 22:30
        assert!(w.is_open(ms("2026-11-24T02:00:00Z"))); // Tue 03:00 (Monday's window)
        assert!(!w.is_open(ms("2026-11-23T20:30:00Z"))); // Mon 21:30
        assert!(w.is_open(ms("2026-11-25T02:00:00Z"))); // Wed 03:00 (Tuesday's window)
        assert!(!w.is_open(ms("2026-11-26T02:00:00Z"))); // Thu 03:00
        let bad = Window {
            tz: "Mars/Olympus".into(),
            ..w.clone()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("IANA"));
    }

    #[test]
    fn ladders_parse_and_reject_nonsense() {
        let l = parse_ladder("graceful:10m, force-restart:30s").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].timeout_ms, 30_000);
        assert!(parse_ladder("reset:1m").is_err());
        assert!(parse_ladder("").is_err());
    }

    #[test]
    fn the_brake_trips_above_the_threshold() {
        let b = Brake::default();
        assert!(!b.trips(50, 1000));
        assert!(b.trips(51, 1000));
    }
}
