//! Timer schedules, as pure functions of time: StackStorm's three timer
//! trigger types parsed from a rule's `trigger.parameters`, and "the next
//! slot after t".
//!
//! - `core.st2.IntervalTimer` `{unit, delta}`: every `delta` units
//!   (weeks, days, hours, minutes, seconds: fixed lengths), counted from an
//!   anchor (when drover first saw the timer);
//! - `core.st2.CronTimer` `{timezone, year, month, day, week, day_of_week,
//!   hour, minute, second}`: APScheduler 3's cron fields (see [`Cron`]);
//! - `core.st2.DateTimer` `{timezone, date}`: once, at `date`.
//!
//! Nothing here reads the clock: callers pass the instants in, so tests
//! use a fake clock.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

pub const INTERVAL: &str = "core.st2.IntervalTimer";
pub const CRON: &str = "core.st2.CronTimer";
pub const DATE: &str = "core.st2.DateTimer";

/// Whether `trigger_type` is one of the timer trigger types.
pub fn is_timer(trigger_type: &str) -> bool {
    matches!(trigger_type, INTERVAL | CRON | DATE)
}

/// A timer's parameters that do not make a schedule: which field, why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("trigger.parameters.{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A parsed timer: its schedule and its canonical parameters (two rules
/// spelling the same timer differently share one).
#[derive(Clone, Debug)]
pub struct TimerSpec {
    pub trigger_type: String,
    pub schedule: Schedule,
    pub canonical: Map<String, Value>,
}

impl TimerSpec {
    /// Parses the parameters of a timer trigger (`trigger_type` must be a
    /// timer type).
    pub fn parse(trigger_type: &str, params: &Map<String, Value>) -> Result<TimerSpec, SpecError> {
        let (schedule, canonical) = match trigger_type {
            INTERVAL => parse_interval(params)?,
            CRON => parse_cron(params)?,
            DATE => parse_date(params)?,
            other => return Err(err("type", format!("{other:?} is not a timer type"))),
        };
        Ok(TimerSpec {
            trigger_type: trigger_type.to_owned(),
            schedule,
            canonical,
        })
    }

    /// `type` plus canonical parameters: the timer's identity, also its key
    /// in the store.
    pub fn key(&self) -> String {
        format!(
            "{}:{}",
            self.trigger_type,
            Value::Object(self.canonical.clone())
        )
    }
}

/// When a timer fires.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Every `every`, from the anchor (first slot: anchor + every).
    Interval {
        every: SignedDuration,
    },
    Cron(Box<Cron>),
    /// Once.
    Date(Timestamp),
}

impl Schedule {
    /// The first slot strictly after `after`; `anchor` is when the timer
    /// was first seen (interval timers count from it). `None`: never again.
    pub fn next_after(&self, after: Timestamp, anchor: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Interval { every } => {
                let every = every.as_nanos();
                let since = after.as_nanosecond() - anchor.as_nanosecond();
                let k = if since < 0 { 1 } else { since / every + 1 };
                Timestamp::from_nanosecond(anchor.as_nanosecond() + k * every).ok()
            }
            Schedule::Cron(c) => c.next_after(after),
            Schedule::Date(at) => (*at > after).then_some(*at),
        }
    }
}

fn check_keys(params: &Map<String, Value>, allowed: &[&str]) -> Result<(), SpecError> {
    for k in params.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(err(
                k,
                format!("unknown parameter; expected one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn timezone(params: &Map<String, Value>) -> Result<(String, TimeZone), SpecError> {
    match params.get("timezone") {
        None | Some(Value::Null) => Ok(("UTC".into(), TimeZone::UTC)),
        Some(Value::String(name)) => TimeZone::get(name.trim())
            .map(|tz| (name.trim().to_owned(), tz))
            .map_err(|e| err("timezone", format!("unknown time zone {name:?}: {e}"))),
        Some(other) => Err(err(
            "timezone",
            format!("expected a time zone name, got {other}"),
        )),
    }
}

fn parse_interval(
    params: &Map<String, Value>,
) -> Result<(Schedule, Map<String, Value>), SpecError> {
    check_keys(params, &["unit", "delta", "timezone"])?;
    let unit = match params.get("unit") {
        Some(Value::String(u)) => u.trim().to_ascii_lowercase(),
        Some(other) => return Err(err("unit", format!("expected a string, got {other}"))),
        None => {
            return Err(err(
                "unit",
                "required (weeks, days, hours, minutes or seconds)",
            ));
        }
    };
    let seconds: i64 = match unit.as_str() {
        "weeks" => 7 * 86_400,
        "days" => 86_400,
        "hours" => 3_600,
        "minutes" => 60,
        "seconds" => 1,
        _ => {
            return Err(err(
                "unit",
                format!("{unit:?}: expected weeks, days, hours, minutes or seconds"),
            ));
        }
    };
    let delta = match params.get("delta") {
        Some(Value::Number(n)) => n.as_i64().filter(|d| *d > 0),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok().filter(|d| *d > 0),
        None => return Err(err("delta", "required (a positive integer)")),
        _ => None,
    }
    .ok_or_else(|| err("delta", "expected a positive integer"))?;
    let every = delta
        .checked_mul(seconds)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .ok_or_else(|| err("delta", "interval too long (at most 100 years)"))?;
    let mut canonical = Map::new();
    canonical.insert("unit".into(), unit.into());
    canonical.insert("delta".into(), delta.into());
    Ok((
        Schedule::Interval {
            every: SignedDuration::from_secs(every),
        },
        canonical,
    ))
}

fn parse_date(params: &Map<String, Value>) -> Result<(Schedule, Map<String, Value>), SpecError> {
    check_keys(params, &["date", "timezone"])?;
    let (_, tz) = timezone(params)?;
    let text = match params.get("date") {
        Some(Value::String(s)) => s.trim(),
        Some(other) => {
            return Err(err(
                "date",
                format!("expected a date-time string, got {other}"),
            ));
        }
        None => return Err(err("date", "required, e.g. \"2026-12-31 23:59:59\"")),
    };
    let at = parse_instant(text, &tz).ok_or_else(|| {
        err(
            "date",
            format!("{text:?} is not a date-time (e.g. \"2026-12-31 23:59:59\" or RFC 3339)"),
        )
    })?;
    let mut canonical = Map::new();
    canonical.insert("date".into(), at.to_string().into());
    Ok((Schedule::Date(at), canonical))
}

/// RFC 3339 (with an offset: that instant), or a civil date-time
/// (`YYYY-MM-DD[ T]HH:MM[:SS[.f]]`, or a bare date: midnight) in `tz`.
fn parse_instant(text: &str, tz: &TimeZone) -> Option<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let dt = text
        .parse::<DateTime>()
        .or_else(|_| {
            text.parse::<Date>()
                .map(|d| d.to_datetime(Time::midnight()))
        })
        .ok()?;
    tz.to_ambiguous_timestamp(dt).compatible().ok()
}

// ---------------------------------------------------------------- cron --

/// APScheduler 3's cron trigger, which st2's `CronTimer` is:
///
/// - fields `year` (1970-9999), `month` (1-12 or jan-dec), `day` (1-31),
///   `week` (ISO week 1-53), `day_of_week` (0-6 or mon-sun, **0 = Monday**),
///   `hour`, `minute`, `second`; each an integer or a string of
///   comma-separated expressions: `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n`,
///   names and name ranges (`mon-fri`), and for `day` also `last`,
///   `1st fri` … `5th fri`, `last fri`;
/// - fields left out are `*` when more significant than the least
///   significant field given, else their minimum (`{hour: 5}` is 05:00:00
///   daily; `year`, `week` and `day_of_week` are always `*`);
/// - in `timezone` (default UTC). A local time that does not exist (the
///   hour skipped when DST starts) is skipped; one that happens twice (DST
///   ends) fires once, the first time.
#[derive(Clone, Debug)]
pub struct Cron {
    tz: TimeZone,
    year: Field,
    month: Field,
    day: Field,
    week: Field,
    day_of_week: Field,
    hours: Vec<i8>,
    minutes: Vec<i8>,
    seconds: Vec<i8>,
}

const FIELDS: [(&str, i32, i32); 8] = [
    ("year", 1970, 9999),
    ("month", 1, 12),
    ("day", 1, 31),
    ("week", 1, 53),
    ("day_of_week", 0, 6),
    ("hour", 0, 23),
    ("minute", 0, 59),
    ("second", 0, 59),
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

#[derive(Clone, Debug)]
enum Expr {
    /// `first..=last` every `step`.
    Range { first: i32, last: i32, step: i32 },
    /// `last` (day): the month's last day.
    LastDay,
    /// `2nd fri` (n = 1..=5), `last fri` (n = -1).
    Nth { n: i8, weekday: i8 },
}

#[derive(Clone, Debug)]
struct Field(Vec<Expr>);

impl Field {
    fn matches_value(&self, v: i32) -> bool {
        self.0.iter().any(|e| match e {
            Expr::Range { first, last, step } => {
                v >= *first && v <= *last && (v - first) % step == 0
            }
            _ => false,
        })
    }

    fn matches_day(&self, date: Date) -> bool {
        let day = i32::from(date.day());
        self.0.iter().any(|e| match e {
            Expr::Range { .. } => self.matches_value_one(e, day),
            Expr::LastDay => date.day() == date.days_in_month(),
            Expr::Nth { n, weekday } => {
                let wd = date.weekday().to_monday_zero_offset();
                if wd != *weekday {
                    return false;
                }
                if *n < 0 {
                    i32::from(date.day()) + 7 > i32::from(date.days_in_month())
                } else {
                    (date.day() - 1) / 7 + 1 == *n
                }
            }
        })
    }

    fn matches_value_one(&self, e: &Expr, v: i32) -> bool {
        matches!(e, Expr::Range { first, last, step } if v >= *first && v <= *last && (v - first) % step == 0)
    }

    fn values(&self, min: i32, max: i32) -> Vec<i8> {
        (min..=max)
            .filter(|v| self.matches_value(*v))
            .map(|v| v as i8)
            .collect()
    }
}

fn parse_cron(params: &Map<String, Value>) -> Result<(Schedule, Map<String, Value>), SpecError> {
    let mut allowed: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    allowed.push("timezone");
    check_keys(params, &allowed)?;
    let (tz_name, tz) = timezone(params)?;
    let mut canonical = Map::new();
    canonical.insert("timezone".into(), tz_name.into());
    let given = |name: &str| params.get(name).filter(|v| !v.is_null());
    let least = FIELDS.iter().rposition(|f| given(f.0).is_some());
    let mut fields = Vec::with_capacity(FIELDS.len());
    for (i, (name, min, max)) in FIELDS.iter().enumerate() {
        let text = match given(name) {
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(Value::Number(n)) if n.as_i64().is_some() => n.to_string(),
            Some(other) => {
                return Err(err(
                    name,
                    format!("expected an integer or a string, got {other}"),
                ));
            }
            None if matches!(*name, "year" | "week" | "day_of_week") => "*".to_owned(),
            None if least.is_some_and(|l| i < l) => "*".to_owned(),
            None => min.to_string(),
        };
        if given(name).is_some() {
            canonical.insert((*name).into(), text.clone().into());
        }
        fields.push(parse_field(name, &text, *min, *max)?);
    }
    let mut it = fields.into_iter();
    let mut next = || it.next().expect("eight fields");
    let (year, month, day, week, day_of_week) = (next(), next(), next(), next(), next());
    let hours = next().values(0, 23);
    let minutes = next().values(0, 59);
    let seconds = next().values(0, 59);
    let cron = Cron {
        tz,
        year,
        month,
        day,
        week,
        day_of_week,
        hours,
        minutes,
        seconds,
    };
    Ok((Schedule::Cron(Box::new(cron)), canonical))
}

fn parse_field(name: &str, text: &str, min: i32, max: i32) -> Result<Field, SpecError> {
    if text.is_empty() {
        return Err(err(name, "empty expression"));
    }
    let names: &[&str] = match name {
        "day_of_week" => &WEEKDAYS,
        "month" => &MONTHS,
        _ => &[],
    };
    let names_base = if name == "month" { 1 } else { 0 };
    let number = |s: &str| -> Result<i32, SpecError> {
        let v = if let Some(i) = names.iter().position(|n| *n == s) {
            i as i32 + names_base
        } else {
            s.parse::<i32>().map_err(|_| {
                err(
                    name,
                    format!(
                        "{s:?} is not a number{}",
                        if names.is_empty() { "" } else { " or a name" }
                    ),
                )
            })?
        };
        if v < min || v > max {
            return Err(err(name, format!("{v} is out of range {min}-{max}")));
        }
        Ok(v)
    };
    let mut exprs = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if name == "day" {
            if part == "last" {
                exprs.push(Expr::LastDay);
                continue;
            }
            if let Some((pos, wd)) = part.split_once(' ') {
                let n = match pos.trim() {
                    "1st" => 1,
                    "2nd" => 2,
                    "3rd" => 3,
                    "4th" => 4,
                    "5th" => 5,
                    "last" => -1,
                    other => {
                        return Err(err(name, format!("{other:?}: expected 1st..5th or last")));
                    }
                };
                let weekday = WEEKDAYS
                    .iter()
                    .position(|w| *w == wd.trim())
                    .ok_or_else(|| {
                        err(name, format!("{:?} is not a weekday (mon..sun)", wd.trim()))
                    })?;
                exprs.push(Expr::Nth {
                    n,
                    weekday: weekday as i8,
                });
                continue;
            }
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step = s
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        err(
                            name,
                            format!("{part:?}: the step must be a positive integer"),
                        )
                    })?;
                (r.trim(), Some(step))
            }
            None => (part, None),
        };
        let (first, last) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a.trim())?, number(b.trim())?);
            if a > b {
                return Err(err(
                    name,
                    format!("{part:?}: the range's start is after its end"),
                ));
            }
            (a, b)
        } else {
            let a = number(range)?;
            (a, if step.is_some() { max } else { a })
        };
        exprs.push(Expr::Range {
            first,
            last,
            step: step.unwrap_or(1),
        });
    }
    Ok(Field(exprs))
}

/// Bounds the search for a date matching the date fields (a cron that can
/// never match, e.g. February 31st, ends there).
const MAX_DAYS_SCANNED: u32 = 400_000;

impl Cron {
    /// The first slot strictly after `after`, or `None` if there is none.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = self.tz.to_datetime(after);
        let mut date = start.date();
        let mut scanned = 0u32;
        while scanned < MAX_DAYS_SCANNED {
            scanned += 1;
            if !self.year.matches_value(i32::from(date.year())) {
                date = Date::new(date.year().checked_add(1)?, 1, 1).ok()?;
                continue;
            }
            if !self.month.matches_value(i32::from(date.month())) {
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.day.matches_day(date)
                && self
                    .week
                    .matches_value(i32::from(date.iso_week_date().week()))
                && self
                    .day_of_week
                    .matches_value(i32::from(date.weekday().to_monday_zero_offset()))
                && let Some(t) = self.first_in_day(date, start, after)
            {
                return Some(t);
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The first slot of `date` strictly after `after` (`start` is `after`
    /// as local time).
    fn first_in_day(&self, date: Date, start: DateTime, after: Timestamp) -> Option<Timestamp> {
        let same_day = date == start.date();
        let (sh, sm, ss) = (start.hour(), start.minute(), start.second());
        for &h in &self.hours {
            if same_day && h < sh {
                continue;
            }
            for &m in &self.minutes {
                if same_day && h == sh && m < sm {
                    continue;
                }
                for &s in &self.seconds {
                    if same_day && h == sh && m == sm && s < ss {
                        continue;
                    }
                    let dt = date.to_datetime(Time::new(h, m, s, 0).ok()?);
                    let offset = match self.tz.to_ambiguous_timestamp(dt).offset() {
                        AmbiguousOffset::Unambiguous { offset } => offset,
                        // Fires once, at the first of the two.
                        AmbiguousOffset::Fold { before, .. } => before,
                        // This local time does not exist that day.
                        AmbiguousOffset::Gap { .. } => continue,
                    };
                    let t = offset.to_timestamp(dt).ok()?;
                    if t > after {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}
