//! The table of every operator against st2's semantics.
//!
//! Each row is `(operator, value, pattern, passes)`. `value` and `pattern`
//! are JSON text; `MISSING` is a key absent from the payload and `NONE` a
//! pattern the rule does not give. The expected results are what st2's
//! `operators.py` returns for the same Python values (the rows were checked
//! against it, with `now` fixed at [`NOW`]).

use serde_json::Value;

use super::*;

const MISSING: &str = "<missing>";
const NONE: &str = "<none>";
const NOW: &str = "2026-01-01T00:00:00Z";

#[rustfmt::skip]
const TABLE: &[(&str, &str, &str, bool)] = &[
    // equals / eq: Python ==, no coercion between "1" and 1.
    ("equals", r#""b7s01""#, r#""b7s01""#, true),
    ("equals", r#""b7s01""#, r#""B7S01""#, false),
    ("eq", "1", "1", true),
    ("equals", "1", "1.0", true),
    ("equals", r#""1""#, "1", false),
    ("equals", "1", r#""1""#, false),
    ("equals", "true", "1", true),
    ("equals", "true", r#""true""#, false),
    ("equals", "null", "null", false),
    ("equals", MISSING, r#""x""#, false),
    ("equals", "null", r#""x""#, false),
    ("equals", r#""x""#, NONE, false),
    ("equals", "[1, 2]", "[1, 2]", true),
    ("equals", "[1, 2]", "[2, 1]", false),
    ("equals", r#"{"a": 1}"#, r#"{"a": 1.0}"#, true),
    ("equals", r#""héllo""#, r#""héllo""#, true),
    ("equals", r#""""#, r#""""#, true),
    // nequals / neq: the only comparison that passes on None.
    ("nequals", r#""foo""#, r#""bar""#, true),
    ("neq", r#""foo""#, r#""FOO""#, true),
    ("nequals", r#""True""#, "true", true),
    ("nequals", r#""True""#, r#""True""#, false),
    ("nequals", MISSING, r#""x""#, true),
    ("nequals", "null", r#""x""#, true),
    ("nequals", MISSING, NONE, false),
    ("nequals", "1", "1.0", false),
    ("nequals", r#""1""#, "1", true),
    // iequals / ieq: strings only, Unicode lowercase.
    ("iequals", r#""AbC""#, r#""aBc""#, true),
    ("ieq", r#""ABC""#, r#""BCA""#, false),
    ("iequals", r#""ÉCOLE""#, r#""école""#, true),
    ("iequals", r#""ΣΑΣ""#, r#""σας""#, true),
    ("iequals", "1", "1", false),
    ("iequals", MISSING, r#""x""#, false),
    ("iequals", r#""x""#, NONE, false),
    // contains: pattern in value (substring, list element, dict key).
    ("contains", r#""haystack needle haystack""#, r#""needle""#, true),
    ("contains", r#""needla""#, r#""needle""#, false),
    ("contains", r#""Needle""#, r#""needle""#, false),
    ("contains", r#"["a", "b"]"#, r#""a""#, true),
    ("contains", r#"["ab", "c"]"#, r#""a""#, false),
    ("contains", "[1, 2]", "1", true),
    ("contains", "[1, 2]", r#""1""#, false),
    ("contains", "[[1], 2]", "[1]", true),
    ("contains", r#"{"k": 1}"#, r#""k""#, true),
    ("contains", r#"{"k": 1}"#, "1", false),
    ("contains", r#""abc""#, "1", false),
    ("contains", "12", "1", false),
    ("contains", MISSING, r#""x""#, false),
    ("contains", "null", r#""x""#, false),
    ("contains", r#""x""#, NONE, false),
    ("contains", r#""日本語テキスト""#, r#""本語""#, true),
    // ncontains: errors fail even though the operator is negated.
    ("ncontains", r#""haystack""#, r#""needle""#, true),
    ("ncontains", r#""needle""#, r#""needle""#, false),
    ("ncontains", r#"["a"]"#, r#""b""#, true),
    ("ncontains", r#"["a"]"#, r#""a""#, false),
    ("ncontains", MISSING, r#""x""#, false),
    ("ncontains", "5", "5", false),
    ("ncontains", r#""x""#, NONE, false),
    ("ncontains", r#"{"k": 1}"#, "[1]", false),
    // icontains / incontains: strings only.
    ("icontains", r#""haystack nEEdle""#, r#""NEEDLE""#, true),
    ("icontains", r#""needla""#, r#""needle""#, false),
    ("icontains", r#"["NEEDLE"]"#, r#""needle""#, false),
    ("icontains", MISSING, r#""x""#, false),
    ("icontains", r#""ÉTÉ""#, r#""été""#, true),
    ("incontains", r#""haystack""#, r#""FOO""#, true),
    ("incontains", r#""haystack nEeDle""#, r#""NEEDLE""#, false),
    ("incontains", MISSING, r#""x""#, false),
    ("incontains", "[1]", r#""x""#, false),
    // startswith / endswith and their i-variants: strings only.
    ("startswith", r#""b7s01""#, r#""b7""#, true),
    ("startswith", r#""b7s01""#, r#""B7""#, false),
    ("startswith", r#""b7s01""#, r#""s01""#, false),
    ("startswith", r#"["b7"]"#, r#""b7""#, false),
    ("startswith", "17", r#""1""#, false),
    ("startswith", MISSING, r#""x""#, false),
    ("startswith", r#""x""#, NONE, false),
    ("startswith", r#""ünïcode""#, r#""ünï""#, true),
    ("istartswith", r#""HAYSTACK needle""#, r#""haystack""#, true),
    ("istartswith", r#""a haystack""#, r#""haystack""#, false),
    ("istartswith", MISSING, r#""x""#, false),
    ("endswith", r#""node.example.com""#, r#"".com""#, true),
    ("endswith", r#""node.example.com""#, r#"".COM""#, false),
    ("endswith", "[1]", r#""1""#, false),
    ("endswith", MISSING, r#""x""#, false),
    ("iendswith", r#""haystack needle haystackEND""#, r#""HAYstackend""#, true),
    ("iendswith", r#""a haystack""#, r#""a ""#, false),
    ("iendswith", "null", r#""x""#, false),
    // lessthan / greaterthan: numbers with numbers, strings with strings.
    ("lessthan", "1", "2", true),
    ("lt", "1", "1", false),
    ("lessthan", "1.5", "2", true),
    ("lessthan", "true", "2", true),
    ("lessthan", r#""a""#, r#""b""#, true),
    ("lessthan", r#""Z""#, r#""a""#, true),
    ("lessthan", r#""10""#, r#""9""#, true),
    ("lessthan", "10", r#""9""#, false),
    ("lessthan", r#""1""#, "2", false),
    ("lessthan", MISSING, "2", false),
    ("lessthan", "null", "2", false),
    ("lessthan", "1", NONE, false),
    ("lessthan", "[1, 2]", "[1, 3]", true),
    ("lessthan", "[1, 2]", "[1, 2, 0]", true),
    ("lessthan", "[1, \"a\"]", "[1, 2]", false),
    ("lessthan", r#"{"a": 1}"#, r#"{"a": 2}"#, false),
    ("greaterthan", "2", "1", true),
    ("gt", "2", "3", false),
    ("greaterthan", r#""bcb""#, r#""aba""#, true),
    ("greaterthan", r#""é""#, r#""z""#, true),
    ("greaterthan", "12", r#""5""#, false),
    ("greaterthan", MISSING, "5", false),
    ("greaterthan", "-1", "-2.5", true),
    // matchwildcard: fnmatch, whole value, case-sensitive.
    ("matchwildcard", r#""b7s01""#, r#""b*""#, true),
    ("matchwildcard", r#""a7s01""#, r#""b*""#, false),
    ("matchwildcard", r#""B7s01""#, r#""b*""#, false),
    ("matchwildcard", r#""test foo test""#, r#""foo""#, false),
    ("matchwildcard", r#""test foo test""#, r#""*foo*""#, true),
    ("matchwildcard", r#""bar""#, r#""b?r""#, true),
    ("matchwildcard", r#""b1""#, r#""b[0-9]""#, true),
    ("matchwildcard", r#""bx""#, r#""b[!0-9]""#, true),
    ("matchwildcard", "17", r#""1*""#, false),
    ("matchwildcard", MISSING, r#""*""#, false),
    ("matchwildcard", r#""x""#, NONE, false),
    ("matchwildcard", r#""nœud-1""#, r#""nœud-?""#, true),
    // regex: re.search; iregex: case-insensitive; matchregex: re.match + DOTALL.
    ("regex", r#""v1""#, r#""v1$""#, true),
    ("regex", r#""v1_foo""#, r#""v1$""#, false),
    ("regex", r#""apples ponies oranges""#, r#""(ponies|unicorns)""#, true),
    ("regex", r#""PONIES""#, r#""ponies""#, false),
    ("regex", "1", r#""1""#, false),
    ("regex", MISSING, r#"".*""#, false),
    ("regex", r#""x""#, NONE, false),
    ("regex", r#""ab\ncd""#, r#""^cd""#, false),
    ("regex", r#""ab""#, r#""b\\Z""#, true),
    ("regex", r#""日本""#, r#""^\\w+$""#, true),
    ("iregex", r#""fooPONIESbar""#, r#""ponies""#, true),
    ("iregex", r#""V1_foo""#, r#""v1$""#, false),
    ("iregex", r#""ÉTÉ""#, r#""été""#, true),
    ("matchregex", r#""v1""#, r#""v1$""#, true),
    ("matchregex", r#""foo ponies bar""#, r#"".*ponies.*""#, true),
    ("matchregex", r#""foo ponies""#, r#""ponies""#, false),
    ("matchregex", r#""a\nb""#, r#""a.b""#, true),
    ("matchregex", MISSING, r#""x""#, false),
    // timediff_lt / timediff_gt: seconds between the value and now.
    ("timediff_lt", r#""2025-12-31T23:59:55Z""#, "10", true),
    ("td_lt", r#""2025-12-31T23:59:55Z""#, r#""10""#, true),
    ("timediff_lt", r#""2025-12-31T23:59:00Z""#, "10", false),
    ("timediff_lt", r#""2025-12-31T23:59:55.500000""#, "10", true),
    ("timediff_lt", r#""2026-01-01T01:59:55+02:00""#, "10", true),
    ("timediff_lt", r#""2014-07-01T00:01:01.000000""#, "10", false),
    ("timediff_lt", r#""2025-12-31T23:59:55Z""#, NONE, false),
    ("timediff_lt", MISSING, "10", false),
    ("timediff_lt", "1767225595", "10", false),
    ("timediff_gt", r#""2014-07-01T00:01:01.000000""#, "1", true),
    ("td_gt", r#""2014-07-01T00:01:01.000000""#, r#""1""#, true),
    ("timediff_gt", r#""2025-12-31T23:59:55Z""#, "10", false),
    ("timediff_gt", r#""2025-12-31""#, "3600", true),
    ("timediff_gt", r#""not a date""#, "10", false),
    // exists / nexists: a null value does not exist (st2 tests `is not None`).
    ("exists", "false", NONE, true),
    ("exists", "0", NONE, true),
    ("exists", r#""""#, NONE, true),
    ("exists", "[]", NONE, true),
    ("exists", "null", NONE, false),
    ("exists", MISSING, NONE, false),
    ("exists", r#""x""#, r#""ignored""#, true),
    ("nexists", "false", NONE, false),
    ("nexists", r#""foo""#, NONE, false),
    ("nexists", "null", NONE, true),
    ("nexists", MISSING, NONE, true),
    // inside / in: value in pattern; ninside / nin: not in, errors fail.
    ("inside", r#""a""#, r#""abc""#, true),
    ("inside", r#""a""#, r#""bcd""#, false),
    ("in", r#""b7s01""#, r#"["b7s01", "b7s02"]"#, true),
    ("inside", r#""b7s03""#, r#"["b7s01", "b7s02"]"#, false),
    ("inside", "1", "[1.0, 2]", true),
    ("inside", "1", r#"["1"]"#, false),
    ("inside", r#""k""#, r#"{"k": 1}"#, true),
    ("inside", "1", r#""123""#, false),
    ("inside", MISSING, r#"["a"]"#, false),
    ("inside", "null", "[null]", true),
    ("inside", r#""a""#, NONE, false),
    ("ninside", r#""a""#, r#""bcd""#, true),
    ("nin", r#""a""#, r#""abc""#, false),
    ("ninside", r#""b7s03""#, r#"["b7s01"]"#, true),
    ("ninside", "1", r#""123""#, false),
    ("ninside", MISSING, r#"["a"]"#, true),
    ("ninside", r#""a""#, NONE, false),
];

fn parse(text: &str) -> Option<Value> {
    (text != MISSING && text != NONE).then(|| serde_json::from_str(text).expect(text))
}

#[test]
fn every_operator_as_st2() {
    let now: Timestamp = NOW.parse().unwrap();
    let mut failures = Vec::new();
    for &(name, value, pattern, want) in TABLE {
        let op = Operator::from_name(name).unwrap_or_else(|| panic!("unknown operator {name}"));
        let v = parse(value);
        let p = parse(pattern);
        let got = check(op, v.as_ref(), p.as_ref(), None, now).unwrap_or(false);
        // A prepared matcher (as a rule gets) must agree with the unprepared one.
        let prepared = p.as_ref().and_then(|p| prepare(op, p).ok().flatten());
        let got_prepared =
            check(op, v.as_ref(), p.as_ref(), prepared.as_ref(), now).unwrap_or(false);
        if got != want || got_prepared != want {
            failures.push(format!(
                "{name}({value}, {pattern}) = {got}/{got_prepared}, want {want}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_operator_is_in_the_table() {
    for (name, _) in OPERATOR_NAMES {
        assert!(
            TABLE.iter().any(|(n, ..)| n == name)
                || Operator::from_name(name) == Some(Operator::Search),
            "{name} has no row"
        );
    }
}

#[test]
fn type_errors_and_pattern_errors_are_told_apart() {
    let now: Timestamp = NOW.parse().unwrap();
    let v = serde_json::json!("x");
    let n = serde_json::json!(1);
    assert_eq!(
        check(Operator::LessThan, Some(&v), Some(&n), None, now),
        Err(CheckError::Type(
            "'<' not supported between instances of 'str' and 'int'".into()
        ))
    );
    assert!(matches!(
        check(
            Operator::Regex,
            Some(&v),
            Some(&serde_json::json!("(")),
            None,
            now
        ),
        Err(CheckError::Pattern(_))
    ));
    assert!(matches!(
        check(
            Operator::TimeDiffLt,
            Some(&v),
            Some(&serde_json::json!("soon")),
            None,
            now
        ),
        Err(CheckError::Pattern(_))
    ));
    assert!(matches!(
        check(Operator::TimeDiffLt, Some(&v), Some(&n), None, now),
        Err(CheckError::Type(_))
    ));
}

#[test]
fn regexes_explain_what_is_unsupported() {
    let e = prepare(Operator::Regex, &serde_json::json!("a(?=b)")).unwrap_err();
    assert!(e.contains("look-ahead"), "{e}");
    let e = prepare(Operator::Regex, &serde_json::json!(r"(a)\1")).unwrap_err();
    assert!(e.contains("back-references"), "{e}");
    let e = prepare(Operator::Regex, &serde_json::json!("x{1000}{1000}")).unwrap_err();
    assert!(
        e.contains("too large") || e.contains("invalid regex"),
        "{e}"
    );
    assert!(prepare(Operator::Regex, &serde_json::json!(5)).is_err());
    assert!(prepare(Operator::TimeDiffGt, &serde_json::json!("1e3")).is_ok());
}

#[test]
fn names_and_aliases() {
    assert_eq!(Operator::from_name("eq"), Some(Operator::Equals));
    assert_eq!(Operator::from_name("nin"), Some(Operator::NInside));
    assert_eq!(Operator::from_name("td_gt"), Some(Operator::TimeDiffGt));
    // st2 lowercases operator names.
    assert_eq!(Operator::from_name("Equals"), Some(Operator::Equals));
    assert_eq!(
        Operator::from_name("MatchWildcard"),
        Some(Operator::MatchWildcard)
    );
    assert_eq!(Operator::from_name("Equal"), None);
    assert_eq!(
        Operator::from_name("search").map(Operator::name),
        Some("search")
    );
    for (name, op) in OPERATOR_NAMES {
        assert_eq!(Operator::from_name(op.name()), Some(*op), "{name}");
    }
}
