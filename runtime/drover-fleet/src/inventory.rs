//! Inventory files: YAML and CSV import and export. Every row is checked
//! (name, labels, driver, driver options) and every problem is reported
//! with its line and field; a file with any problem imports nothing.
//!
//! YAML:
//! ```yaml
//! nodes:
//!   - name: b7s01
//!     labels: {rack: r07, cluster: batch}
//!     driver: sim                  # sim | redfish | command
//!     options: {reboot_seconds: 2} # redfish: {url, username_secret, password_secret, insecure}
//! ```
//! CSV: a header with `name`, `driver`, and one column per label
//! (`label.rack`) and per option (`option.url`); an empty cell is absent.
//! Option cells holding a number, `true`/`false` or JSON are typed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use drover_text::located::{self as yaml, Node as Y, Yaml};
use serde::Serialize;
use serde_json::Value;

use crate::driver::KNOWN_DRIVERS;
use crate::sim::SimOptions;

/// One node of an inventory file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub driver: String,
    pub options: Value,
}

/// A problem with one row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

/// All errors, one a line, with a closing count.
pub fn format_errors(errors: &[RowError]) -> String {
    let mut s: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    s.push(format!(
        "{} problem{}; nothing was imported",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    ));
    s.join("\n")
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// The first import replaces the default simulated fleet.
    pub replaced_default: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Csv,
}

impl Format {
    /// By file extension: `.csv` is CSV, anything else YAML.
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Yaml,
        }
    }
}

fn label_token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a node needs a name".into());
    }
    if name.len() > 253
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "{name:?} is not a node name: use letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

fn check_driver(driver: &str) -> Result<(), String> {
    if KNOWN_DRIVERS.contains(&driver) {
        return Ok(());
    }
    let hint = drover_text::closest(driver, KNOWN_DRIVERS)
        .map(|c| format!(" (did you mean {c}?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown driver {driver:?}{hint}: use one of {}",
        KNOWN_DRIVERS.join(", ")
    ))
}

/// Option keys each driver reads; `ssh` belongs to the host's `command`
/// interface and is allowed for every driver.
fn known_options(driver: &str) -> &'static [&'static str] {
    match driver {
        "sim" => &[
            "reboot_seconds",
            "drain_seconds",
            "fail_rate",
            "no_return_rate",
            "seed",
            "ssh",
        ],
        "redfish" => &[
            "url",
            "username_secret",
            "password_secret",
            "insecure",
            "system",
            "timeout_seconds",
            "ssh",
        ],
        "command" => &["drain", "undrain", "reboot", "up", "timeout_seconds", "ssh"],
        _ => &[],
    }
}

/// Checks a driver's options at import (the drivers check them again
/// when they act): `(field, message)` per problem.
pub fn check_options(driver: &str, options: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(obj) = options.as_object() else {
        out.push((
            "options".into(),
            "must be a mapping of option names to values".into(),
        ));
        return out;
    };
    let known = known_options(driver);
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let hint = drover_text::closest(key, known.iter().copied())
                .map(|c| format!(" (did you mean {c}?)"))
                .unwrap_or_default();
            out.push((
                format!("options.{key}"),
                format!("unknown {driver} option{hint}; known: {}", known.join(", ")),
            ));
        }
    }
    let timeout = |out: &mut Vec<(String, String)>, max: u64| {
        if let Some(v) = obj.get("timeout_seconds")
            && !v.as_u64().is_some_and(|t| (1..=max).contains(&t))
        {
            out.push((
                "options.timeout_seconds".into(),
                format!("must be a whole number of seconds from 1 to {max}"),
            ));
        }
    };
    match driver {
        "sim" => {
            let mut sim = obj.clone();
            sim.retain(|k, _| known.contains(&k.as_str()) && k != "ssh");
            if let Err(e) = SimOptions::parse(&Value::Object(sim)) {
                out.push(("options".into(), e));
            }
        }
        "redfish" => {
            match obj.get("url").and_then(Value::as_str) {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                Some(u) => out.push(("options.url".into(), format!("{u:?} is not an http(s) URL"))),
                None => out.push((
                    "options.url".into(),
                    "redfish needs the BMC's URL, e.g. https://10.0.0.7".into(),
                )),
            }
            for key in ["username_secret", "password_secret"] {
                match obj.get(key) {
                    Some(Value::String(_)) => {}
                    Some(_) => out.push((
                        format!("options.{key}"),
                        "must be the name of a secret (`drover secret set NAME`)".into(),
                    )),
                    None => out.push((
                        format!("options.{key}"),
                        "redfish needs the name of a secret holding the BMC credential".into(),
                    )),
                }
            }
            if let Some(v) = obj.get("insecure")
                && !v.is_boolean()
            {
                out.push(("options.insecure".into(), "must be true or false".into()));
            }
            if let Some(v) = obj.get("system")
                && !v.is_string()
            {
                out.push(("options.system".into(), "must be text, e.g. \"1\"".into()));
            }
            timeout(&mut out, 600);
        }
        "command" => {
            for key in ["drain", "undrain", "reboot", "up"] {
                if let Some(v) = obj.get(key) {
                    let ok = v
                        .as_array()
                        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
                    if !ok {
                        out.push((
                            format!("options.{key}"),
                            "must be a non-empty list of arguments, e.g. [scontrol, update, \"nodename={node}\", state=drain]".into(),
                        ));
                    }
                }
            }
            timeout(&mut out, 24 * 3600);
        }
        _ => {}
    }
    out
}

/// Checks one parsed row; pushes its problems. `lines`: where each field
/// (`name`, `driver`, `labels`, `options`) is, when known; else the row's
/// line.
fn check_spec(
    spec: &NodeSpec,
    line: usize,
    lines: &HashMap<String, usize>,
    seen: &mut HashMap<String, usize>,
    errors: &mut Vec<RowError>,
) {
    let mut err = |field: &str, message: String| {
        let top = field.split('.').next().unwrap_or(field);
        errors.push(RowError {
            line: lines.get(top).copied().unwrap_or(line),
            field: field.to_owned(),
            message,
        })
    };
    if let Err(e) = check_name(&spec.name) {
        err("name", e);
    } else if let Some(first) = seen.get(&spec.name) {
        err(
            "name",
            format!("{} is already defined on line {first}", spec.name),
        );
    } else {
        seen.insert(spec.name.clone(), line);
    }
    for (k, v) in &spec.labels {
        if !label_token_ok(k) {
            err(
                &format!("labels.{k}"),
                "a label key is letters, digits, '.', '_', '/' and '-'".into(),
            );
        } else if !label_token_ok(v) {
            err(
                &format!("labels.{k}"),
                format!("{v:?}: a label value is non-empty letters, digits, '.', '_', '/' and '-'"),
            );
        }
    }
    match check_driver(&spec.driver) {
        Err(e) => err("driver", e),
        Ok(()) => {
            for (field, message) in check_options(&spec.driver, &spec.options) {
                err(&field, message);
            }
        }
    }
}

fn scalar_text(n: &Y) -> Option<String> {
    match &n.value {
        Yaml::Str(s) => Some(s.clone()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Float(f) => Some(f.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses and checks a YAML inventory.
pub fn parse_yaml(text: &str) -> Result<Vec<NodeSpec>, Vec<RowError>> {
    let root = yaml::parse(text).map_err(|e| {
        vec![RowError {
            line: e.mark.line,
            field: "yaml".into(),
            message: e.message,
        }]
    })?;
    let top_err = |line: usize, m: &str| {
        vec![RowError {
            line,
            field: "nodes".into(),
            message: m.to_owned(),
        }]
    };
    let Some(map) = root.as_map() else {
        return Err(top_err(
            root.mark.line.max(1),
            "the file must be a mapping with a `nodes:` list",
        ));
    };
    let mut errors = Vec::new();
    for (k, _) in map {
        if k.as_str() != Some("nodes") {
            errors.push(RowError {
                line: k.mark.line,
                field: k.key_text(),
                message: "unknown key; an inventory has only `nodes:`".into(),
            });
        }
    }
    let Some(items) = root.get("nodes") else {
        return Err(top_err(1, "missing `nodes:` (a list of nodes)"));
    };
    let Some(items) = items.as_seq() else {
        return Err(top_err(items.mark.line, "`nodes:` must be a list"));
    };
    let mut specs = Vec::new();
    let mut seen = HashMap::new();
    for item in items {
        let line = item.mark.line;
        let Some(fields) = item.as_map() else {
            errors.push(RowError {
                line,
                field: "nodes[]".into(),
                message: format!(
                    "a node must be a mapping (name, labels, driver, options), not {}",
                    item.kind()
                ),
            });
            continue;
        };
        let mut spec = NodeSpec {
            name: String::new(),
            labels: BTreeMap::new(),
            driver: "sim".into(),
            options: Value::Object(Default::default()),
        };
        let mut ok = true;
        let mut lines = HashMap::new();
        for (k, v) in fields {
            let key = k.key_text();
            lines.insert(key.clone(), k.mark.line);
            let mut err = |field: String, message: String| {
                ok = false;
                errors.push(RowError {
                    line: v.mark.line,
                    field,
                    message,
                })
            };
            match key.as_str() {
                "name" => match scalar_text(v) {
                    Some(s) => spec.name = s,
                    None => err("name".into(), format!("must be text, not {}", v.kind())),
                },
                "driver" => match v.as_str() {
                    Some(s) => spec.driver = s.to_owned(),
                    None => err("driver".into(), format!("must be text, not {}", v.kind())),
                },
                "labels" => match v.as_map() {
                    Some(m) => {
                        for (lk, lv) in m {
                            match scalar_text(lv) {
                                Some(s) => {
                                    spec.labels.insert(lk.key_text(), s);
                                }
                                None => err(
                                    format!("labels.{}", lk.key_text()),
                                    format!("a label value must be a scalar, not {}", lv.kind()),
                                ),
                            }
                        }
                    }
                    None => err(
                        "labels".into(),
                        format!("must be a mapping, e.g. {{rack: r07}}, not {}", v.kind()),
                    ),
                },
                "options" => match &v.value {
                    Yaml::Map(_) => spec.options = v.to_json(),
                    Yaml::Null => {}
                    _ => err(
                        "options".into(),
                        format!("must be a mapping, not {}", v.kind()),
                    ),
                },
                other => {
                    let hint = drover_text::closest(other, ["name", "labels", "driver", "options"])
                        .map(|c| format!(" (did you mean {c}?)"))
                        .unwrap_or_default();
                    errors.push(RowError {
                        line: k.mark.line,
                        field: other.to_owned(),
                        message: format!(
                            "unknown key{hint}; a node has name, labels, driver, options"
                        ),
                    });
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        check_spec(&spec, line, &lines, &mut seen, &mut errors);
        specs.push(spec);
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

fn cell_value(text: &str) -> Value {
    let t = text.trim();
    let typed = t == "true"
        || t == "false"
        || t.starts_with('{')
        || t.starts_with('[')
        || t.parse::<f64>().is_ok();
    if typed && let Ok(v) = serde_json::from_str(t) {
        return v;
    }
    Value::String(text.to_owned())
}

/// Parses and checks a CSV inventory.
pub fn parse_csv(text: &str) -> Result<Vec<NodeSpec>, Vec<RowError>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| {
            vec![RowError {
                line: 1,
                field: "header".into(),
                message: e.to_string(),
            }]
        })?
        .clone();
    let mut errors = Vec::new();
    let mut has_name = false;
    for h in headers.iter() {
        match h {
            "name" => has_name = true,
            "driver" => {}
            _ if h.strip_prefix("label.").is_some_and(|k| !k.is_empty())
                || h.strip_prefix("option.").is_some_and(|k| !k.is_empty()) => {}
            other => errors.push(RowError {
                line: 1,
                field: other.to_owned(),
                message: "unknown column: use name, driver, label.KEY, option.KEY".into(),
            }),
        }
    }
    if !has_name {
        errors.push(RowError {
            line: 1,
            field: "name".into(),
            message: "the header needs a `name` column".into(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut specs = Vec::new();
    let mut seen = HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    line: e.position().map_or(0, |p| p.line() as usize),
                    field: "row".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let mut spec = NodeSpec {
            name: String::new(),
            labels: BTreeMap::new(),
            driver: "sim".into(),
            options: Value::Object(Default::default()),
        };
        for (h, cell) in headers.iter().zip(rec.iter()) {
            if cell.is_empty() {
                continue;
            }
            if h == "name" {
                spec.name = cell.to_owned();
            } else if h == "driver" {
                spec.driver = cell.to_owned();
            } else if let Some(k) = h.strip_prefix("label.") {
                spec.labels.insert(k.to_owned(), cell.to_owned());
            } else if let Some(k) = h.strip_prefix("option.")
                && let Value::Object(o) = &mut spec.options
            {
                o.insert(k.to_owned(), cell_value(cell));
            }
        }
        check_spec(&spec, line, &HashMap::new(), &mut seen, &mut errors);
        specs.push(spec);
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}

/// Reads an inventory in either format.
pub fn parse(text: &str, format: Format) -> Result<Vec<NodeSpec>, Vec<RowError>> {
    match format {
        Format::Yaml => parse_yaml(text),
        Format::Csv => parse_csv(text),
    }
}

/// The inventory as YAML that [`parse_yaml`] reads back.
pub fn to_yaml(nodes: &[NodeSpec]) -> String {
    let mut out = String::from("nodes:\n");
    for n in nodes {
        out.push_str(&format!(
            "  - name: {}\n",
            json_scalar(&Value::String(n.name.clone()))
        ));
        if !n.labels.is_empty() {
            let labels: Vec<String> = n
                .labels
                .iter()
                .map(|(k, v)| format!("{}: {}", k, json_scalar(&Value::String(v.clone()))))
                .collect();
            out.push_str(&format!("    labels: {{{}}}\n", labels.join(", ")));
        }
        out.push_str(&format!("    driver: {}\n", n.driver));
        if n.options.as_object().is_some_and(|o| !o.is_empty()) {
            // JSON is YAML: exact, including nested values.
            out.push_str(&format!("    options: {}\n", n.options));
        }
    }
    out
}

fn json_scalar(v: &Value) -> String {
    // Quote when YAML would read it as something else than this string.
    match v {
        Value::String(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
                && s.parse::<f64>().is_err()
                && !matches!(
                    s.as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
                ) =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

/// The inventory as CSV that [`parse_csv`] reads back.
pub fn to_csv(nodes: &[NodeSpec]) -> Result<String, csv::Error> {
    let labels: BTreeSet<&str> = nodes
        .iter()
        .flat_map(|n| n.labels.keys().map(String::as_str))
        .collect();
    let options: BTreeSet<&str> = nodes
        .iter()
        .filter_map(|n| n.options.as_object())
        .flat_map(|o| o.keys().map(String::as_str))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["name".to_owned(), "driver".to_owned()];
    header.extend(labels.iter().map(|l| format!("label.{l}")));
    header.extend(options.iter().map(|o| format!("option.{o}")));
    w.write_record(&header)?;
    for n in nodes {
        let mut row = vec![n.name.clone(), n.driver.clone()];
        row.extend(
            labels
                .iter()
                .map(|l| n.labels.get(*l).cloned().unwrap_or_default()),
        );
        row.extend(options.iter().map(|o| match n.options.get(*o) {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        }));
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "nodes:
  - name: b7s01
    labels: {rack: r07, cluster: batch}
    driver: sim
    options: {reboot_seconds: 2}
  - name: b7s02
    labels: {rack: r07}
    driver: redfish
    options: {url: 'https://10.0.0.7', username_secret: bmc.user, password_secret: bmc.pass, insecure: true, ssh: {user: ops}}
";

    #[test]
    fn yaml_round_trips_through_yaml_and_csv() {
        let specs = parse_yaml(GOOD).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].labels["cluster"], "batch");
        assert_eq!(specs[1].options["insecure"], true);
        assert_eq!(parse_yaml(&to_yaml(&specs)).unwrap(), specs);
        let csv = to_csv(&specs).unwrap();
        assert!(
            csv.starts_with("name,driver,label.cluster,label.rack,option.insecure"),
            "{csv}"
        );
        assert_eq!(parse_csv(&csv).unwrap(), specs);
    }

    #[test]
    fn every_bad_row_is_reported_with_line_and_field() {
        let bad = "nodes:
  - name: ok1
    labels: {rack: r01}
  - name: b7s01
    driver: redfsh
  - name: b7s02
    driver: redfish
    options: {username_secret: 3}
  - name: ok1
  - name: x
    lables: {rack: r1}
  - name: y
    options: {reboot_seconds: -1}
";
        let errs = parse_yaml(bad).unwrap_err();
        let text = format_errors(&errs);
        assert!(
            text.contains("line 5: driver: unknown driver \"redfsh\" (did you mean redfish?)"),
            "{text}"
        );
        assert!(
            text.contains("line 8: options.url: redfish needs the BMC's URL"),
            "{text}"
        );
        assert!(text.contains("line 8: options.username_secret"), "{text}");
        assert!(
            text.contains("line 9: name: ok1 is already defined on line 2"),
            "{text}"
        );
        assert!(
            text.contains("line 11: lables: unknown key (did you mean labels?)"),
            "{text}"
        );
        assert!(
            text.contains("line 13: options: reboot_seconds must be 0 or more"),
            "{text}"
        );
        assert!(text.ends_with("7 problems; nothing was imported"), "{text}");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let errs =
            parse_csv("name,driver,label.rack\nn1,sim,r1\nn 2,sim,r1\nn3,bogus,\n").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!((errs[0].line, errs[0].field.as_str()), (3, "name"));
        assert_eq!((errs[1].line, errs[1].field.as_str()), (4, "driver"));
        let errs = parse_csv("name,rack\nn1,r1\n").unwrap_err();
        assert_eq!(errs[0].field, "rack");
    }
}
