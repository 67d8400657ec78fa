//! Finding executions: the filters of the executions list, parsed once for
//! the API (`GET /api/v1/executions`) and the web UI (`/ui/executions`) so
//! both answer the same question the same way. Every value is user input:
//! lengths are bounded, times and ids are parsed, and the store binds each
//! value as a parameter (a search's `%` and `_` are literal).

use drover_core::ExecStatus;
use drover_store::ExecutionQuery;

use super::executions::parse_id;
use crate::ApiError;

/// The longest filter value accepted (names, actors, a search string).
pub const MAX_FILTER_LEN: usize = 200;

/// The filters as given in a query string; empty values are absent.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub action: Option<String>,
    pub status: Option<String>,
    pub node: Option<String>,
    pub actor: Option<String>,
    pub rule: Option<String>,
    /// Created at or after: RFC 3339, `2026-11-26T08:00` (UTC), Unix
    /// milliseconds, or an age (`90m`, `2h`, `7d`: that long ago).
    pub since: Option<String>,
    /// Created before: the same forms as `since`.
    pub until: Option<String>,
    /// A substring of the parameters (their JSON text), any ASCII case.
    pub q: Option<String>,
    /// Keyset cursor: the previous page's `next_after`.
    pub after: Option<String>,
    /// Top-level executions only (a workflow's task runs left out).
    pub top_level: bool,
}

impl Filters {
    /// The store query for a page of `limit` rows, as of `now_ms` (for
    /// ages); a bad value is a 400 naming its field.
    pub fn query(&self, limit: u32, now_ms: i64) -> Result<ExecutionQuery, ApiError> {
        let text = |field: &str, v: &Option<String>| -> Result<Option<String>, ApiError> {
            let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            if v.chars().count() > MAX_FILTER_LEN {
                return Err(ApiError::BadRequest(format!(
                    "{field}: longer than {MAX_FILTER_LEN} characters"
                )));
            }
            if v.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(format!(
                    "{field}: control characters are not allowed"
                )));
            }
            Ok(Some(v.to_owned()))
        };
        let status = text("status", &self.status)?
            .map(|s| {
                ExecStatus::parse(&s).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown status {s:?}: expected succeeded, failed, denied or timeout"
                    ))
                })
            })
            .transpose()?;
        let after = text("after", &self.after)?
            .map(|a| parse_id(&a))
            .transpose()?;
        let min_id = text("since", &self.since)?
            .map(|s| time_bound("since", &s, now_ms).map(ulid_floor))
            .transpose()?;
        let max_id = text("until", &self.until)?
            .map(|s| time_bound("until", &s, now_ms).map(ulid_floor))
            .transpose()?;
        if let (Some(min), Some(max)) = (&min_id, &max_id)
            && min >= max
        {
            return Err(ApiError::BadRequest(
                "since must be earlier than until".to_owned(),
            ));
        }
        Ok(ExecutionQuery {
            action: text("action", &self.action)?,
            status,
            after,
            min_id,
            max_id,
            node: text("node", &self.node)?,
            top_level: self.top_level,
            actor: text("actor", &self.actor)?,
            rule: text("rule", &self.rule)?,
            search: text("q", &self.q)?,
            limit,
        })
    }
}

/// The millisecond `value` names (see [`Filters::since`]); `field` names
/// it in the error.
pub fn time_bound(field: &str, value: &str, now_ms: i64) -> Result<i64, ApiError> {
    let bad = |why: String| {
        ApiError::BadRequest(format!(
            "{field}: {why}; use RFC 3339 (2026-11-26T08:00:00Z), a UTC time \
             (2026-11-26T08:00), Unix milliseconds or an age (90m, 2h, 7d)"
        ))
    };
    let ms = if let Ok(ms) = value.parse::<i64>() {
        ms
    } else if let Ok(ts) = value.parse::<jiff::Timestamp>() {
        ts.as_millisecond()
    } else if let Ok(dt) = value.parse::<jiff::civil::DateTime>() {
        // A civil time without an offset is UTC.
        format!("{dt}Z")
            .parse::<jiff::Timestamp>()
            .map_err(|e| bad(e.to_string()))?
            .as_millisecond()
    } else if value.starts_with(|c: char| c.is_ascii_digit()) {
        let age = humantime::parse_duration(value).map_err(|e| bad(e.to_string()))?;
        now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
    } else {
        return Err(bad(format!("{value:?} is not a time")));
    };
    // A ULID holds 48 bits of milliseconds since 1970.
    if !(0..(1i64 << 48)).contains(&ms) {
        return Err(bad(format!("{value:?} is out of range")));
    }
    Ok(ms)
}

/// The smallest ULID of millisecond `ms`: ids at or above it were created
/// then or later.
pub fn ulid_floor(ms: i64) -> String {
    ulid::Ulid::from_parts(ms as u64, 0).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn times_in_every_form() {
        assert_eq!(time_bound("since", "1000", NOW).unwrap(), 1000);
        assert_eq!(
            time_bound("since", "1970-01-01T00:00:01Z", NOW).unwrap(),
            1000
        );
        assert_eq!(
            time_bound("since", "1970-01-01T00:01", NOW).unwrap(),
            60_000
        );
        assert_eq!(time_bound("since", "2h", NOW).unwrap(), NOW - 7_200_000);
        assert_eq!(
            time_bound("since", "7d", NOW).unwrap(),
            NOW - 7 * 86_400_000
        );
        for bad in [
            "yesterday",
            "-5",
            "2h'; DROP TABLE executions",
            "99999999999999999",
        ] {
            let e = time_bound("since", bad, NOW).unwrap_err().to_string();
            assert!(e.starts_with("since: "), "{e}");
        }
    }

    #[test]
    fn bounded_and_checked() {
        let long = Filters {
            q: Some("x".repeat(MAX_FILTER_LEN + 1)),
            ..Default::default()
        };
        assert!(
            long.query(50, NOW)
                .unwrap_err()
                .to_string()
                .contains("q: longer")
        );
        let reversed = Filters {
            since: Some("1h".into()),
            until: Some("2h".into()),
            ..Default::default()
        };
        assert!(reversed.query(50, NOW).is_err());
        let ok = Filters {
            actor: Some(" alice ".into()),
            rule: Some(String::new()),
            q: Some("50%".into()),
            top_level: true,
            ..Default::default()
        }
        .query(50, NOW)
        .unwrap();
        assert_eq!(ok.actor.as_deref(), Some("alice"));
        assert_eq!(ok.rule, None);
        assert_eq!(ok.search.as_deref(), Some("50%"));
        assert!(ok.top_level);
    }
}
