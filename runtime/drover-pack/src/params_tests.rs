use serde_json::{Value, json};

use super::*;

fn params() -> Parameters {
    // From text, not `json!`: serde_json's map sorts keys, and we keep declaration order.
    serde_json::from_str(
        r#"{
            "message": {"type": "string", "description": "What to echo.", "required": true},
            "count": {"type": "integer", "default": 1, "minimum": 1, "description": "How many times."},
            "ratio": {"type": "number"},
            "loud": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object"},
            "nothing": {"type": "null"},
            "anything": {},
            "maybe": {"type": ["integer", "null"]},
            "label": {"type": ["string", "null"]}
        }"#,
    )
    .unwrap()
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn cli(words: &[&str]) -> Result<Value, ParamError> {
    params().parse_cli_args(&args(words))
}

fn cli_err(words: &[&str]) -> String {
    cli(words).unwrap_err().to_string()
}

#[test]
fn json_schema_and_order() {
    let p = params();
    let names: Vec<&str> = p.iter().map(Parameter::name).collect();
    assert_eq!(names[..3], ["message", "count", "ratio"]);
    let schema = p.json_schema();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["message"]));
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["properties"]["count"]["minimum"], 1);
    assert!(schema["properties"]["message"].get("required").is_none());
    let back: Parameters = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn cli_coerces_by_type() {
    let value = cli(&[
        "message=hello world",
        "count=3",
        "ratio=0.5",
        "loud=true",
        r#"tags=["a","b"]"#,
        r#"extra={"k": 1}"#,
        "nothing=null",
        "anything=42",
        "maybe=7",
        "label=123",
    ])
    .unwrap();
    assert_eq!(
        value,
        json!({
            "message": "hello world",
            "count": 3,
            "ratio": 0.5,
            "loud": true,
            "tags": ["a", "b"],
            "extra": {"k": 1},
            "nothing": null,
            "anything": 42,
            "maybe": 7,
            "label": "123",
        })
    );
    // A string stays a string even if it looks like JSON; `=` may appear in values.
    assert_eq!(cli(&["message=42"]).unwrap(), json!({"message": "42"}));
    assert_eq!(cli(&["message=a=b"]).unwrap(), json!({"message": "a=b"}));
    assert_eq!(cli(&["message="]).unwrap(), json!({"message": ""}));
    // No type: JSON if it parses, else the string.
    assert_eq!(
        cli(&["anything=hi there"]).unwrap(),
        json!({"anything": "hi there"})
    );
    assert_eq!(cli(&["anything=[1]"]).unwrap(), json!({"anything": [1]}));
    assert_eq!(cli(&["label=null"]).unwrap(), json!({"label": null}));
    assert_eq!(cli(&["label=hi"]).unwrap(), json!({"label": "hi"}));
    assert_eq!(cli(&["ratio=2"]).unwrap(), json!({"ratio": 2}));
    assert_eq!(cli(&[]).unwrap(), json!({}));
}

#[test]
fn cli_errors() {
    assert_eq!(
        cli_err(&["count=abc"]),
        r#"parameter "count": "abc" is not of type "integer""#
    );
    assert_eq!(
        cli_err(&["count=1.5"]),
        r#"parameter "count": "1.5" is not of type "integer""#
    );
    assert_eq!(
        cli_err(&["ratio=fast"]),
        r#"parameter "ratio": "fast" is not of type "number""#
    );
    assert_eq!(
        cli_err(&["ratio=NaN"]),
        r#"parameter "ratio": "NaN" is not of type "number""#
    );
    assert_eq!(
        cli_err(&["loud=yes"]),
        r#"parameter "loud": "yes" is not of type "boolean" (write true or false)"#
    );
    assert!(
        cli_err(&["tags=a,b"]).starts_with(r#"parameter "tags": "a,b" is not valid JSON ("#),
        "{}",
        cli_err(&["tags=a,b"])
    );
    assert!(cli_err(&["tags=a,b"]).ends_with(r#"write the array as JSON, e.g. '["a", "b"]'"#));
    assert!(cli_err(&["maybe=x"]).starts_with(r#"parameter "maybe": "x" is not valid JSON"#));
    assert_eq!(
        cli_err(&["mesage=hi"]),
        r#"unknown parameter "mesage" (did you mean "message"?)"#
    );
    assert_eq!(
        cli_err(&["zzz=1"]),
        "unknown parameter \"zzz\" (parameters: message, count, ratio, loud, tags, extra, \
         nothing, anything, maybe, label)"
    );
    assert_eq!(
        cli_err(&["message"]),
        r#""message" needs a value: write message=VALUE"#
    );
    assert!(
        cli_err(&["hello"]).starts_with(r#"expected KEY=VALUE, got "hello" (parameters: message,"#)
    );
    assert!(cli_err(&["=x"]).starts_with(r#"expected KEY=VALUE, got "=x""#));
    assert_eq!(
        cli_err(&["count=1", "count=2"]),
        r#"parameter "count" is given twice; give it once"#
    );
    let none = Parameters::default();
    assert_eq!(
        none.parse_cli_args(&args(&["x=1"]))
            .unwrap_err()
            .to_string(),
        r#"unknown parameter "x" (this plugin takes no parameters)"#
    );
}

#[test]
fn validate_applies_defaults() {
    let p = params();
    assert_eq!(
        p.validate(json!({"message": "hi"})).unwrap(),
        json!({"message": "hi", "count": 1})
    );
    assert_eq!(
        p.validate(json!({"message": "hi", "count": 5})).unwrap(),
        json!({"message": "hi", "count": 5})
    );
    let optional = Parameters::new([("n".to_owned(), false, json!({"default": "x"}))]).unwrap();
    assert_eq!(optional.validate(Value::Null).unwrap(), json!({"n": "x"}));
}

#[test]
fn validate_errors_name_the_parameter() {
    let p = params();
    let err = |input: Value| p.validate(input).unwrap_err().to_string();
    assert_eq!(err(json!({})), r#"missing required parameter "message""#);
    let two = Parameters::new([
        ("a".to_owned(), true, json!({})),
        ("b".to_owned(), true, json!({})),
        ("c".to_owned(), true, json!({})),
    ])
    .unwrap();
    assert_eq!(
        two.validate(json!({})).unwrap_err(),
        ParamError::Missing {
            names: vec!["a".into(), "b".into(), "c".into()]
        }
    );
    assert_eq!(
        two.validate(json!({})).unwrap_err().to_string(),
        r#"missing required parameters "a", "b" and "c""#
    );
    assert_eq!(
        err(json!({"message": "hi", "count": "abc"})),
        r#"parameter "count": "abc" is not of type "integer""#
    );
    assert_eq!(
        err(json!({"message": "hi", "count": 0})),
        r#"parameter "count": 0 is less than the minimum of 1"#
    );
    assert_eq!(
        err(json!({"message": "hi", "tags": ["a", 2]})),
        r#"parameter "tags": 2 is not of type "string" (at /tags/1)"#
    );
    assert_eq!(
        err(json!({"mesage": "hi"})),
        r#"unknown parameter "mesage" (did you mean "message"?)"#
    );
    assert_eq!(
        err(json!([1])),
        "parameters must be a JSON object, got array"
    );
    assert_eq!(
        p.validate(json!({"message": "hi", "count": "abc"}))
            .unwrap_err(),
        ParamError::Invalid {
            name: "count".into(),
            message: r#""abc" is not of type "integer""#.into()
        }
    );
}

#[test]
fn cli_then_validate() {
    let p = params();
    let input = p.parse_cli_args(&args(&["message=hi", "count=2"])).unwrap();
    assert_eq!(
        p.validate(input).unwrap(),
        json!({"message": "hi", "count": 2})
    );
}

#[test]
fn describe_lines() {
    let lines = params().describe();
    assert_eq!(lines[0], "message (string, required): What to echo.");
    assert_eq!(lines[1], "count (integer, default 1): How many times.");
    assert_eq!(lines[7], "anything (any)");
    assert_eq!(lines[8], "maybe (integer or null)");
}

#[test]
fn declarations_are_checked() {
    let bad = |value: Value| {
        serde_json::from_value::<Parameters>(value)
            .unwrap_err()
            .to_string()
    };
    assert!(
        bad(json!({"Bad": {}})).contains("lowercase letters"),
        "{}",
        bad(json!({"Bad": {}}))
    );
    assert!(bad(json!({"a": {"required": "yes"}})).contains("required must be true or false"));
    assert!(bad(json!({"a": "string"})).contains("the schema must be an object"));
    assert!(bad(json!({"a": {"type": "strin"}})).contains("invalid schema"));
    assert!(
        bad(json!({"a": {"type": "integer", "default": "x"}})).contains("default does not match")
    );
}
