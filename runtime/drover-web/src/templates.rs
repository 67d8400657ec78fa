//! The template environment: every file of `web/templates/` compiled into
//! the binary, HTML auto-escaping on (templates end in `.html`), and the
//! filters pages use for times, durations and JSON.

use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;

use crate::WebError;

/// Template name and source.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../web/templates/base.html"),
    ),
    (
        "macros.html",
        include_str!("../../../web/templates/macros.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../../web/templates/dashboard.html"),
    ),
    (
        "dashboard_live.html",
        include_str!("../../../web/templates/dashboard_live.html"),
    ),
    (
        "executions.html",
        include_str!("../../../web/templates/executions.html"),
    ),
    (
        "execution_rows.html",
        include_str!("../../../web/templates/execution_rows.html"),
    ),
    (
        "execution.html",
        include_str!("../../../web/templates/execution.html"),
    ),
    (
        "execution_live.html",
        include_str!("../../../web/templates/execution_live.html"),
    ),
    (
        "execution_actions.html",
        include_str!("../../../web/templates/execution_actions.html"),
    ),
    (
        "execution_children.html",
        include_str!("../../../web/templates/execution_children.html"),
    ),
    (
        "execution_tasks.html",
        include_str!("../../../web/templates/execution_tasks.html"),
    ),
    ("run.html", include_str!("../../../web/templates/run.html")),
    (
        "rules.html",
        include_str!("../../../web/templates/rules.html"),
    ),
    (
        "rule.html",
        include_str!("../../../web/templates/rule.html"),
    ),
    (
        "rule_test.html",
        include_str!("../../../web/templates/rule_test.html"),
    ),
    (
        "packs.html",
        include_str!("../../../web/templates/packs.html"),
    ),
    (
        "pack.html",
        include_str!("../../../web/templates/pack.html"),
    ),
    (
        "pack_diff.html",
        include_str!("../../../web/templates/pack_diff.html"),
    ),
    (
        "fleet.html",
        include_str!("../../../web/templates/fleet.html"),
    ),
    (
        "fleet_grid.html",
        include_str!("../../../web/templates/fleet_grid.html"),
    ),
    (
        "fleet_change.html",
        include_str!("../../../web/templates/fleet_change.html"),
    ),
    (
        "confirm.html",
        include_str!("../../../web/templates/confirm.html"),
    ),
    (
        "inquiries.html",
        include_str!("../../../web/templates/inquiries.html"),
    ),
    (
        "inquiries_live.html",
        include_str!("../../../web/templates/inquiries_live.html"),
    ),
    (
        "audit.html",
        include_str!("../../../web/templates/audit.html"),
    ),
    (
        "changes.html",
        include_str!("../../../web/templates/changes.html"),
    ),
    (
        "not_found.html",
        include_str!("../../../web/templates/not_found.html"),
    ),
    (
        "node.html",
        include_str!("../../../web/templates/node.html"),
    ),
    (
        "fleet_macros.html",
        include_str!("../../../web/templates/fleet_macros.html"),
    ),
    (
        "incidents.html",
        include_str!("../../../web/templates/incidents.html"),
    ),
    (
        "shadow.html",
        include_str!("../../../web/templates/shadow.html"),
    ),
    (
        "replay.html",
        include_str!("../../../web/templates/replay.html"),
    ),
    (
        "triggers.html",
        include_str!("../../../web/templates/triggers.html"),
    ),
    (
        "trigger.html",
        include_str!("../../../web/templates/trigger.html"),
    ),
    (
        "fleet_changes.html",
        include_str!("../../../web/templates/fleet_changes.html"),
    ),
];

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template; a syntax error names the template and line.
    pub fn load() -> Result<Templates, WebError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_filter("time", |ms: i64| time(ms));
        env.add_filter("ago", |ms: i64| {
            Value::from_safe_string(time_element(ms, drover_core::now_ms()))
        });
        env.add_filter("duration", |us: u64| duration_us(us));
        env.add_filter("pretty", |v: Value| -> Result<String, minijinja::Error> {
            let json: serde_json::Value = serde_json::to_value(&v).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })?;
            Ok(serde_json::to_string_pretty(&json).unwrap_or_default())
        });
        // A value in one line, as the change log shows it: text as is,
        // nothing as `—`, anything else as compact JSON.
        env.add_filter("shown", |v: Value| -> String {
            match serde_json::to_value(&v).unwrap_or_default() {
                serde_json::Value::Null => "—".into(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }
        });
        env.add_global("version", env!("CARGO_PKG_VERSION"));
        Ok(Templates { env })
    }

    /// Renders the full page `name` for `who` with `ctx` (see `ctx!`); a
    /// `page` key names the navigation entry to mark. The layout gets `me`
    /// (name, role, CSRF token) for its header and forms.
    pub fn page(
        &self,
        name: &str,
        who: &drover_api::auth::Principal,
        mut ctx: serde_json::Value,
    ) -> Result<String, WebError> {
        if let serde_json::Value::Object(map) = &mut ctx {
            map.insert("me".into(), to_json(&crate::auth::Viewer::of(who)));
        }
        self.render(name, ctx)
    }

    /// Renders a fragment (no layout) with `ctx`.
    pub fn render(&self, name: &str, ctx: serde_json::Value) -> Result<String, WebError> {
        Ok(self
            .env
            .get_template(name)?
            .render(Value::from(Serde(ctx)))?)
    }
}

/// `value` as JSON for a template; a value that cannot be serialized (a
/// map with non-string keys) is logged and shown as nothing.
pub fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "page data does not serialize");
        serde_json::Value::Null
    })
}

/// Milliseconds since the epoch as `2026-11-26 02:40:11Z`: drover's time
/// ([`drover_core::fmt_time`]) with a space, which wraps in a table cell.
pub fn time(ms: i64) -> String {
    drover_core::fmt_time(ms).replacen('T', " ", 1)
}

/// A `<time>` element for `ms` as seen at `now` (both Unix milliseconds):
/// the text relative ("3 min ago"), the absolute UTC time in its `title`
/// (shown on hover) and `datetime`. Computed by the server, so it does not
/// depend on the browser's clock; a live part re-renders it.
pub fn time_element(ms: i64, now: i64) -> String {
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        drover_core::fmt_time(ms),
        time(ms),
        relative(ms, now)
    )
}

/// `ms` relative to `now`: `just now`, `3 min ago`, `5 h ago`, `4 days
/// ago` (`in 3 min` ahead), and the date alone beyond 30 days.
pub fn relative(ms: i64, now: i64) -> String {
    let ahead = ms > now;
    let s = (now - ms).unsigned_abs() / 1000;
    let (n, unit) = match s {
        0..45 => return if ahead { "in a moment" } else { "just now" }.to_owned(),
        45..5_400 => ((s + 30) / 60, "min"),
        5_400..129_600 => ((s + 1_800) / 3_600, "h"),
        129_600..2_592_000 => ((s + 43_200) / 86_400, "days"),
        _ => return time(ms).split(' ').next().unwrap_or_default().to_owned(),
    };
    if ahead {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

/// Microseconds as `850µs`, `12.3ms` or `2.41s`.
pub fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// HTML-escapes text for the few responses built without a template.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        Templates::load().unwrap();
    }

    #[test]
    fn escaping_and_formats() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert_eq!(duration_us(850), "850µs");
        assert_eq!(duration_us(12_345), "12.3ms");
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
    }

    #[test]
    fn relative_times() {
        let now = 1_800_000_000_000;
        assert_eq!(relative(now - 10_000, now), "just now");
        assert_eq!(relative(now - 180_000, now), "3 min ago");
        assert_eq!(relative(now + 180_000, now), "in 3 min");
        assert_eq!(relative(now - 5 * 3_600_000, now), "5 h ago");
        assert_eq!(relative(now - 4 * 86_400_000, now), "4 days ago");
        assert_eq!(relative(0, now), "1970-01-01");
        assert_eq!(
            time_element(0, 180_000),
            "<time datetime=\"1970-01-01T00:00:00Z\" title=\"1970-01-01 00:00:00Z\">3 min ago</time>"
        );
    }
}
