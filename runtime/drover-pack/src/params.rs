//! Plugin parameters: a StackStorm-style list of named JSON Schema properties.
//!
//! Owns the validated [`Parameters`] of one plugin and everything done with
//! them: the object schema a plugin's input must match, applying defaults and
//! validating an input ([`Parameters::validate`]), turning `key=value` words
//! from the command line into JSON ([`Parameters::parse_cli_args`]), and the
//! one-line descriptions shown in help. Reading them from YAML (with line
//! numbers) is [`crate::manifest`]'s job; this module sees only JSON.
//!
//! The serialized form is the manifest's: a map from name to property schema,
//! with `"required": true` on required ones, in declaration order.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::pack::is_name;
use drover_text::closest;

/// The JSON Schema types a parameter's `type` may name.
pub const JSON_TYPES: [&str; 7] = [
    "string", "integer", "number", "boolean", "object", "array", "null",
];

/// The parameters of one plugin, in declaration order, each with a valid
/// JSON Schema (and a default, if any, that matches it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parameters {
    params: Vec<Parameter>,
}

/// One named parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    name: String,
    required: bool,
    /// The property's JSON Schema (an object), without the StackStorm-style `required`.
    schema: Value,
}

impl Parameter {
    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the input must contain it (after defaults are applied).
    pub fn required(&self) -> bool {
        self.required
    }

    /// Its JSON Schema, e.g. `{"type": "string", "description": "…"}`.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Its `description`, or `""`.
    pub fn description(&self) -> &str {
        self.schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Its `default`, if it has one.
    pub fn default(&self) -> Option<&Value> {
        self.schema.get("default")
    }

    /// The types its `type` keyword allows; empty when it has none (any JSON).
    pub fn types(&self) -> Vec<&str> {
        match self.schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Why an input, or a command line, does not fit a plugin's parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// The input is JSON but not an object.
    #[error("parameters must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type that was given instead.
        found: &'static str,
    },
    /// Required parameters are absent and have no default.
    #[error("{}", missing_message(names))]
    Missing {
        /// The absent parameters, in declaration order.
        names: Vec<String>,
    },
    /// A parameter the plugin does not declare.
    #[error("unknown parameter {name:?} {}", unknown_hint(suggestion.as_deref(), valid))]
    Unknown {
        /// The name given.
        name: String,
        /// The declared parameter it most resembles.
        suggestion: Option<String>,
        /// Every declared parameter.
        valid: Vec<String>,
    },
    /// A parameter's value does not match its schema.
    #[error("parameter {name:?}: {message}")]
    Invalid {
        /// The parameter.
        name: String,
        /// What is wrong, e.g. `"abc" is not of type "integer"`.
        message: String,
    },
    /// A command-line word names a parameter but has no `=VALUE`.
    #[error("{name:?} needs a value: write {name}=VALUE")]
    NeedsValue {
        /// The parameter.
        name: String,
    },
    /// A command-line word that is not `KEY=VALUE`.
    #[error("expected KEY=VALUE, got {word:?} {}", takes_hint(valid))]
    NotKeyValue {
        /// The word given.
        word: String,
        /// Every declared parameter.
        valid: Vec<String>,
    },
    /// The same parameter twice on one command line.
    #[error("parameter {name:?} is given twice; give it once")]
    Duplicate {
        /// The parameter.
        name: String,
    },
    /// The parameters themselves are malformed (only possible for hand-built
    /// or corrupted stored data; manifests are checked when loaded).
    #[error("invalid parameter declaration: {message}")]
    Declaration {
        /// What is wrong.
        message: String,
    },
}

fn missing_message(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.as_slice() {
        [one] => format!("missing required parameter {one}"),
        [init @ .., last] => format!("missing required parameters {} and {last}", init.join(", ")),
        [] => "missing required parameters".to_owned(),
    }
}

fn unknown_hint(suggestion: Option<&str>, valid: &[String]) -> String {
    match suggestion {
        Some(s) => format!("(did you mean {s:?}?)"),
        None => takes_hint(valid),
    }
}

fn takes_hint(valid: &[String]) -> String {
    if valid.is_empty() {
        "(this plugin takes no parameters)".to_owned()
    } else {
        format!("(parameters: {})", valid.join(", "))
    }
}

/// What is wrong with a property schema, for [`crate::manifest`] to place.
#[derive(Debug)]
pub(crate) enum SchemaProblem {
    /// The schema is not a valid JSON Schema; `pointer` is where, inside it
    /// (a JSON pointer, `""` for the whole schema).
    Invalid { pointer: String, message: String },
    /// The schema is fine but its `default` does not match it.
    BadDefault { message: String },
}

/// Checks that `schema` is a valid JSON Schema and that its `default`, if
/// any, matches it.
pub(crate) fn check_schema(schema: &Value) -> Result<(), SchemaProblem> {
    let validator = jsonschema::validator_for(schema).map_err(|err| SchemaProblem::Invalid {
        pointer: err.instance_path().as_str().to_owned(),
        message: err.to_string(),
    })?;
    if let Some(default) = schema.get("default")
        && let Some(err) = validator.iter_errors(default).next()
    {
        return Err(SchemaProblem::BadDefault {
            message: err.to_string(),
        });
    }
    Ok(())
}

impl Parameters {
    /// Builds the parameters from `(name, required, schema)` triples in
    /// declaration order, checking names and schemas.
    pub fn new(
        params: impl IntoIterator<Item = (String, bool, Value)>,
    ) -> Result<Parameters, ParamError> {
        let mut out = Parameters::default();
        for (name, required, schema) in params {
            let bad = |message: String| ParamError::Declaration {
                message: format!("parameter {name:?}: {message}"),
            };
            if !is_name(&name) {
                return Err(bad(
                    "a name is lowercase letters, digits and _, starting with a letter".into(),
                ));
            }
            if out.get(&name).is_some() {
                return Err(bad("declared twice".into()));
            }
            if !schema.is_object() {
                return Err(bad(format!("the schema must be an object, got {schema}")));
            }
            match check_schema(&schema) {
                Ok(()) => {}
                Err(SchemaProblem::Invalid { pointer, message }) => {
                    return Err(bad(format!("invalid schema at {pointer:?}: {message}")));
                }
                Err(SchemaProblem::BadDefault { message }) => {
                    return Err(bad(format!("default does not match the schema: {message}")));
                }
            }
            out.params.push(Parameter {
                name,
                required,
                schema,
            });
        }
        Ok(out)
    }

    /// The parameters in declaration order.
    pub fn iter(&self) -> std::slice::Iter<'_, Parameter> {
        self.params.iter()
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&Parameter> {
        self.params.iter().find(|p| p.name == name)
    }

    /// How many parameters there are.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether the plugin takes no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    fn names(&self) -> Vec<String> {
        self.params.iter().map(|p| p.name.clone()).collect()
    }

    fn unknown(&self, name: &str) -> ParamError {
        ParamError::Unknown {
            name: name.to_owned(),
            suggestion: closest(name, self.params.iter().map(|p| p.name.as_str()))
                .map(str::to_owned),
            valid: self.names(),
        }
    }

    /// JSON Schema object: `{"type":"object","properties":{..},"required":[..],"additionalProperties":false}`.
    pub fn json_schema(&self) -> Value {
        let properties: Map<String, Value> = self
            .params
            .iter()
            .map(|p| (p.name.clone(), p.schema.clone()))
            .collect();
        let required: Vec<Value> = self
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| Value::String(p.name.clone()))
            .collect();
        serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// Apply defaults for absent parameters, then validate. Errors name the
    /// parameter. `null` counts as an empty object.
    pub fn validate(&self, input: Value) -> Result<Value, ParamError> {
        self.validate_with(input, false)
    }

    /// Like [`Parameters::validate`] for a trigger payload: fields beyond
    /// the declared ones are allowed and kept.
    pub fn validate_payload(&self, input: Value) -> Result<Value, ParamError> {
        self.validate_with(input, true)
    }

    fn validate_with(&self, input: Value, open: bool) -> Result<Value, ParamError> {
        let mut object = match input {
            Value::Object(object) => object,
            Value::Null => Map::new(),
            other => {
                return Err(ParamError::NotAnObject {
                    found: json_type(&other),
                });
            }
        };
        if !open && let Some(name) = object.keys().find(|name| self.get(name).is_none()) {
            return Err(self.unknown(name));
        }
        let mut missing = Vec::new();
        for p in &self.params {
            if object.contains_key(&p.name) {
                continue;
            }
            if let Some(default) = p.default() {
                object.insert(p.name.clone(), default.clone());
            } else if p.required {
                missing.push(p.name.clone());
            }
        }
        if !missing.is_empty() {
            return Err(ParamError::Missing { names: missing });
        }
        let input = Value::Object(object);
        let mut schema = self.json_schema();
        if open {
            schema["additionalProperties"] = Value::Bool(true);
        }
        let validator =
            jsonschema::validator_for(&schema).map_err(|err| ParamError::Declaration {
                message: err.to_string(),
            })?;
        if let Some(err) = validator.iter_errors(&input).next() {
            let pointer = err.instance_path().as_str();
            let mut segments = pointer.split('/').skip(1);
            let message = err.to_string();
            return Err(match segments.next() {
                Some(name) => ParamError::Invalid {
                    name: name.replace("~1", "/").replace("~0", "~"),
                    message: if segments.next().is_some() {
                        format!("{message} (at {pointer})")
                    } else {
                        message
                    },
                },
                None => ParamError::Declaration { message },
            });
        }
        Ok(input)
    }

    /// `key=value` words from the command line -> a JSON object, each value
    /// coerced by its property's `type`: strings as-is; integers, numbers and
    /// booleans parsed; objects, arrays and null as JSON; with no single type,
    /// JSON if it parses (and fits the listed types), else the string.
    /// Does not apply defaults or validate: call [`Parameters::validate`] next.
    pub fn parse_cli_args(&self, args: &[String]) -> Result<Value, ParamError> {
        let mut out = Map::new();
        for word in args {
            let Some((name, raw)) = word.split_once('=') else {
                return Err(if self.get(word).is_some() {
                    ParamError::NeedsValue { name: word.clone() }
                } else {
                    ParamError::NotKeyValue {
                        word: word.clone(),
                        valid: self.names(),
                    }
                });
            };
            if name.is_empty() {
                return Err(ParamError::NotKeyValue {
                    word: word.clone(),
                    valid: self.names(),
                });
            }
            let Some(param) = self.get(name) else {
                return Err(self.unknown(name));
            };
            if out.contains_key(name) {
                return Err(ParamError::Duplicate {
                    name: name.to_owned(),
                });
            }
            let value = coerce(&param.types(), raw).map_err(|message| ParamError::Invalid {
                name: name.to_owned(),
                message,
            })?;
            out.insert(name.to_owned(), value);
        }
        Ok(Value::Object(out))
    }

    /// One line per parameter for help and errors, e.g.
    /// `message (string, required): What to echo.` or
    /// `count (integer, default 1): How many times.`
    pub fn describe(&self) -> Vec<String> {
        self.params
            .iter()
            .map(|p| {
                let types = p.types();
                let mut line = format!(
                    "{} ({}",
                    p.name,
                    if types.is_empty() {
                        "any".to_owned()
                    } else {
                        types.join(" or ")
                    }
                );
                if p.required {
                    line.push_str(", required");
                }
                if let Some(default) = p.default() {
                    line.push_str(&format!(", default {default}"));
                }
                line.push(')');
                if !p.description().is_empty() {
                    line.push_str(": ");
                    line.push_str(p.description());
                }
                line
            })
            .collect()
    }
}

/// Coerces one command-line value to the `types` a parameter allows.
fn coerce(types: &[&str], raw: &str) -> Result<Value, String> {
    let not_of_type = |t: &str| format!("{raw:?} is not of type {t:?}");
    match types {
        ["string"] => Ok(Value::String(raw.to_owned())),
        ["integer"] => parse_integer(raw).ok_or_else(|| not_of_type("integer")),
        ["number"] => parse_number(raw).ok_or_else(|| not_of_type("number")),
        ["boolean"] => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{} (write true or false)", not_of_type("boolean"))),
        },
        [t @ ("object" | "array" | "null")] => serde_json::from_str(raw).map_err(|err| {
            let example = match *t {
                "object" => r#"'{"key": "value"}'"#,
                "array" => r#"'["a", "b"]'"#,
                _ => "null",
            };
            format!("{raw:?} is not valid JSON ({err}); write the {t} as JSON, e.g. {example}")
        }),
        _ => {
            let allows_string = types.is_empty() || types.contains(&"string");
            match serde_json::from_str::<Value>(raw) {
                Ok(value) if types.is_empty() || fits(types, &value) => Ok(value),
                _ if allows_string => Ok(Value::String(raw.to_owned())),
                Ok(value) => Ok(value), // validation names the mismatch
                Err(err) => Err(format!("{raw:?} is not valid JSON ({err})")),
            }
        }
    }
}

fn parse_integer(raw: &str) -> Option<Value> {
    if let Ok(i) = raw.parse::<i64>() {
        Some(Value::from(i))
    } else {
        raw.parse::<u64>().ok().map(Value::from)
    }
}

fn parse_number(raw: &str) -> Option<Value> {
    parse_integer(raw).or_else(|| {
        let f = raw.parse::<f64>().ok()?;
        serde_json::Number::from_f64(f).map(Value::Number)
    })
}

/// Whether `value` is of one of the JSON Schema `types`.
fn fits(types: &[&str], value: &Value) -> bool {
    let t = json_type(value);
    types.contains(&t) || (t == "integer" && types.contains(&"number"))
}

/// The JSON Schema type of `value` (`integer` for whole numbers).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.params.len()))?;
        for p in &self.params {
            let mut schema = p.schema.clone();
            if p.required
                && let Value::Object(fields) = &mut schema
            {
                fields.insert("required".into(), Value::Bool(true));
            }
            map.serialize_entry(&p.name, &schema)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;

        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = Parameters;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from parameter name to JSON Schema")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parameters, A::Error> {
                let mut params = Vec::new();
                while let Some((name, mut schema)) = map.next_entry::<String, Value>()? {
                    let required = match &mut schema {
                        Value::Object(fields) => match fields.remove("required") {
                            None => false,
                            Some(Value::Bool(b)) => b,
                            Some(other) => {
                                return Err(de::Error::custom(format!(
                                    "parameter {name:?}: required must be true or false, got {other}"
                                )));
                            }
                        },
                        _ => false, // `Parameters::new` rejects it
                    };
                    params.push((name, required, schema));
                }
                Parameters::new(params).map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_map(ParamsVisitor)
    }
}

impl Parameters {
    /// Parameters already checked by the manifest reader, in declaration order.
    pub(crate) fn from_checked(params: Vec<Parameter>) -> Parameters {
        Parameters { params }
    }
}

impl Parameter {
    /// A parameter whose schema the caller has already checked with [`check_schema`].
    pub(crate) fn checked(name: String, required: bool, schema: Value) -> Parameter {
        Parameter {
            name,
            required,
            schema,
        }
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
