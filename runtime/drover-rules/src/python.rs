//! Python's value semantics over JSON, as StackStorm's operators see them.
//!
//! st2 compares the Python objects its JSON payloads decode to, so the
//! operators inherit Python's rules: `==` never converts between `"1"` and
//! `1` but does treat `1`, `1.0` and `true` as equal (a `bool` is an `int`);
//! `<` orders numbers with numbers, strings with strings (by code point) and
//! lists element by element, and raises `TypeError` for anything else; `in`
//! means substring for strings, membership for lists and key lookup for
//! dicts. This module owns exactly those rules and nothing else; a Python
//! exception becomes `Err(message)` with Python's own wording, which the
//! operators turn into "does not match".
//!
//! `None` stands for Python's `None`: a missing key and a JSON `null` alike.

use std::cmp::Ordering;

use serde_json::Value;

/// Python's name for the type of `v` (`NoneType`, `bool`, `int`, `float`,
/// `str`, `list`, `dict`), for messages.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None | Some(Value::Null) => "NoneType",
        Some(Value::Bool(_)) => "bool",
        Some(Value::Number(n)) if n.is_f64() => "float",
        Some(Value::Number(_)) => "int",
        Some(Value::String(_)) => "str",
        Some(Value::Array(_)) => "list",
        Some(Value::Object(_)) => "dict",
    }
}

/// `v`, unless it is JSON `null` (Python's `None`).
pub(crate) fn some(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The string inside `v`, if it is one.
pub(crate) fn as_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// A Python number: `bool` and `int` are integers, the rest floats.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i128),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            Num::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Num::Int(i128::from(u))
        } else {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        _ => None,
    }
}

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
        (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
        (Num::Int(a), Num::Float(b)) => cmp_int_float(a, b),
        (Num::Float(a), Num::Int(b)) => cmp_int_float(b, a).map(Ordering::reverse),
    }
}

/// Exact comparison of an integer with a float, as Python does it.
fn cmp_int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Every f64 at or beyond ±2^100 is outside any JSON integer we hold.
    const BIG: f64 = 1.2676506002282294e30; // 2^100
    if f >= BIG {
        return Some(Ordering::Less);
    }
    if f <= -BIG {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i128)) {
        Ordering::Equal if f > whole => Some(Ordering::Less),
        Ordering::Equal if f < whole => Some(Ordering::Greater),
        other => Some(other),
    }
}

/// Python's `a == b`.
pub(crate) fn eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (some(a), some(b)) {
        (None, None) => true,
        (Some(a), Some(b)) => eq_values(a, b),
        _ => false,
    }
}

fn eq_values(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return cmp_num(x, y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| eq_values(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| eq_values(v, w)))
        }
        _ => false,
    }
}

/// Python's ordering of `a` and `b` (for `<` and `>`), or the `TypeError`.
pub(crate) fn cmp(a: Option<&Value>, b: Option<&Value>, op: &str) -> Result<Ordering, String> {
    let unsupported = || {
        format!(
            "'{op}' not supported between instances of '{}' and '{}'",
            type_name(a),
            type_name(b)
        )
    };
    let (Some(x), Some(y)) = (some(a), some(b)) else {
        return Err(unsupported());
    };
    if let (Some(p), Some(q)) = (num(x), num(y)) {
        // JSON has no NaN, so numbers always compare.
        return cmp_num(p, q).ok_or_else(unsupported);
    }
    match (x, y) {
        (Value::String(p), Value::String(q)) => Ok(p.as_str().cmp(q.as_str())),
        (Value::Array(p), Value::Array(q)) => {
            // Python: the first pair that differs decides, else the lengths.
            for (u, v) in p.iter().zip(q) {
                if !eq_values(u, v) {
                    return cmp(Some(u), Some(v), op);
                }
            }
            Ok(p.len().cmp(&q.len()))
        }
        _ => Err(unsupported()),
    }
}

/// Python's `item in container`, or the `TypeError`.
pub(crate) fn contains(container: Option<&Value>, item: Option<&Value>) -> Result<bool, String> {
    match some(container) {
        Some(Value::String(haystack)) => match some(item) {
            Some(Value::String(needle)) => Ok(haystack.contains(needle.as_str())),
            _ => Err(format!(
                "'in <string>' requires string as left operand, not {}",
                type_name(item)
            )),
        },
        Some(Value::Array(items)) => Ok(items.iter().any(|v| eq(Some(v), item))),
        Some(Value::Object(map)) => match some(item) {
            Some(Value::Array(_) | Value::Object(_)) => {
                Err(format!("unhashable type: '{}'", type_name(item)))
            }
            // JSON keys are strings: nothing else equals one.
            Some(Value::String(key)) => Ok(map.contains_key(key)),
            _ => Ok(false),
        },
        _ => Err(format!(
            "argument of type '{}' is not iterable",
            type_name(container)
        )),
    }
}

/// Python's `str.lower()` of `v`, or the `AttributeError`.
pub(crate) fn lower(v: Option<&Value>) -> Result<String, String> {
    match as_str(v) {
        Some(s) => Ok(s.to_lowercase()),
        None => Err(format!(
            "'{}' object has no attribute 'lower'",
            type_name(v)
        )),
    }
}

/// Both sides as strings, or the error Python raises for `method`.
pub(crate) fn both_str<'a>(
    value: Option<&'a Value>,
    pattern: Option<&'a Value>,
    method: &str,
) -> Result<(&'a str, &'a str), String> {
    let Some(v) = as_str(value) else {
        return Err(format!(
            "'{}' object has no attribute '{method}'",
            type_name(value)
        ));
    };
    let Some(p) = as_str(pattern) else {
        return Err(format!(
            "{method} first arg must be str, not {}",
            type_name(pattern)
        ));
    };
    Ok((v, p))
}

/// Python's `float(v)` for a period of seconds, or the error.
pub(crate) fn float(v: Option<&Value>) -> Result<f64, String> {
    match some(v) {
        Some(Value::Bool(b)) => Ok(f64::from(u8::from(*b))),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| format!("cannot convert {n} to float")),
        Some(Value::String(s)) => s
            .trim()
            .replace('_', "")
            .parse::<f64>()
            .map_err(|_| format!("could not convert string to float: {s:?}")),
        _ => Err(format!(
            "float() argument must be a string or a number, not '{}'",
            type_name(v)
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equality_follows_python() {
        let e = |a: Value, b: Value| eq(Some(&a), Some(&b));
        assert!(e(json!(1), json!(1.0)));
        assert!(e(json!(true), json!(1)));
        assert!(e(json!(false), json!(0.0)));
        assert!(!e(json!("1"), json!(1)));
        assert!(!e(json!(null), json!(0)));
        assert!(e(json!([1, {"a": "x"}]), json!([1.0, {"a": "x"}])));
        assert!(!e(json!({"a": 1}), json!({"a": 1, "b": 2})));
        assert!(eq(None, Some(&json!(null))));
        assert!(e(json!(u64::MAX), json!(u64::MAX)));
        assert!(!e(json!(9007199254740993u64), json!(9007199254740992.0)));
    }

    #[test]
    fn ordering_follows_python() {
        let c = |a: Value, b: Value| cmp(Some(&a), Some(&b), "<");
        assert_eq!(c(json!(1), json!(2.5)), Ok(Ordering::Less));
        assert_eq!(c(json!(true), json!(0)), Ok(Ordering::Greater));
        assert_eq!(c(json!("a"), json!("b")), Ok(Ordering::Less));
        assert_eq!(c(json!("Z"), json!("a")), Ok(Ordering::Less));
        assert_eq!(c(json!("é"), json!("z")), Ok(Ordering::Greater));
        assert_eq!(c(json!([1, 2]), json!([1, 3])), Ok(Ordering::Less));
        assert_eq!(c(json!([1, 2]), json!([1])), Ok(Ordering::Greater));
        assert_eq!(
            c(json!("1"), json!(1)).unwrap_err(),
            "'<' not supported between instances of 'str' and 'int'"
        );
        assert!(c(json!([1, "a"]), json!([1, 2])).is_err());
        assert!(c(json!({}), json!({})).is_err());
        assert!(cmp(None, Some(&json!(1)), "<").is_err());
        assert_eq!(c(json!(-3), json!(-2.5)), Ok(Ordering::Less));
        assert_eq!(c(json!(3), json!(2.5)), Ok(Ordering::Greater));
    }

    #[test]
    fn membership_follows_python() {
        let i = |c: Value, x: Value| contains(Some(&c), Some(&x));
        assert_eq!(i(json!("haystack"), json!("st")), Ok(true));
        assert!(i(json!("haystack"), json!(1)).is_err());
        assert_eq!(i(json!([1, "a"]), json!(1.0)), Ok(true));
        assert_eq!(i(json!([1, "a"]), json!("1")), Ok(false));
        assert_eq!(i(json!({"k": 1}), json!("k")), Ok(true));
        assert_eq!(i(json!({"k": 1}), json!(1)), Ok(false));
        assert!(i(json!({"k": 1}), json!([])).is_err());
        assert!(i(json!(5), json!(5)).is_err());
        assert!(contains(None, Some(&json!("a"))).is_err());
        assert_eq!(contains(Some(&json!([null])), None), Ok(true));
    }

    #[test]
    fn float_parses_like_python() {
        assert_eq!(float(Some(&json!("10"))), Ok(10.0));
        assert_eq!(float(Some(&json!(" 1.5 "))), Ok(1.5));
        assert_eq!(float(Some(&json!(true))), Ok(1.0));
        assert!(float(Some(&json!("ten"))).is_err());
        assert!(float(None).is_err());
    }
}
