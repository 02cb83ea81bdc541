//! Parameter specifications and validation of raw values.
//!
//! UWS clients post parameters as strings (form fields). Each kind declares its parameters as
//! [`ParamSpec`]s; [`validate`] turns the posted strings into a JSON object with typed values and
//! defaults filled in, which then deserialises into the kind's parameter struct. Everything a
//! client can get wrong is reported here, at job creation, with the parameter's name.

use serde::Serialize;
use serde_json::{Map, Value};

/// Parameters as posted: (name, value) pairs, names already lower-cased by the caller.
pub type RawParams = Vec<(String, String)>;

/// The type of a parameter's value, as shown in `GET /uws` and checked at creation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamType {
    Bool,
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    Text {
        max_len: usize,
    },
    /// One of a fixed set of words.
    Choice {
        values: Vec<&'static str>,
    },
    /// A path inside the owner's storage (a file or a folder), checked to exist at creation.
    Path,
}

/// One parameter of a job kind.
#[derive(Debug, Clone, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    #[serde(flatten)]
    pub kind: ParamType,
    pub description: &'static str,
    /// The value used when the client gives none; `None` with `required == false` means "absent".
    pub default: Option<Value>,
    pub required: bool,
}

impl ParamSpec {
    pub fn new(name: &'static str, kind: ParamType, description: &'static str) -> Self {
        ParamSpec { name, kind, description, default: None, required: false }
    }

    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// A parameter the client got wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown parameter '{name}' (this kind takes: {known})")]
    Unknown { name: String, known: String },
    #[error("parameter '{name}' is required")]
    Missing { name: String },
    #[error("parameter '{name}' is given more than once")]
    Repeated { name: String },
    #[error("parameter '{name}': {reason}")]
    Invalid { name: String, reason: String },
}

impl ParamError {
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        ParamError::Invalid { name: name.to_string(), reason: reason.into() }
    }
}

/// Checks raw values against `specs` and returns the typed JSON object (defaults filled in).
pub fn validate(specs: &[ParamSpec], raw: &RawParams) -> Result<Map<String, Value>, ParamError> {
    let mut out = Map::new();
    for (name, value) in raw {
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let known = specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
            return Err(ParamError::Unknown { name: name.clone(), known });
        };
        if out.contains_key(spec.name) {
            return Err(ParamError::Repeated { name: name.clone() });
        }
        out.insert(spec.name.to_string(), parse_value(spec, value)?);
    }
    for spec in specs {
        if out.contains_key(spec.name) {
            continue;
        }
        match (&spec.default, spec.required) {
            (Some(default), _) => {
                out.insert(spec.name.to_string(), default.clone());
            }
            (None, true) => {
                return Err(ParamError::Missing { name: spec.name.to_string() });
            }
            (None, false) => {}
        }
    }
    Ok(out)
}

fn parse_value(spec: &ParamSpec, raw: &str) -> Result<Value, ParamError> {
    let name = spec.name;
    let value = raw.trim();
    match &spec.kind {
        ParamType::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(ParamError::invalid(name, format!("expected true or false, got '{raw}'"))),
        },
        ParamType::Integer { min, max } => {
            let n: i64 =
                value.parse().map_err(|_| ParamError::invalid(name, format!("expected an integer, got '{raw}'")))?;
            check_range(name, n as f64, min.map(|m| m as f64), max.map(|m| m as f64))?;
            Ok(Value::from(n))
        }
        ParamType::Float { min, max } => {
            let x: f64 = value
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| ParamError::invalid(name, format!("expected a number, got '{raw}'")))?;
            check_range(name, x, *min, *max)?;
            Ok(Value::from(x))
        }
        ParamType::Text { max_len } => {
            if raw.len() > *max_len {
                return Err(ParamError::invalid(name, format!("longer than {max_len} bytes")));
            }
            Ok(Value::String(raw.to_string()))
        }
        ParamType::Choice { values } => values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(value))
            .map(|v| Value::String(v.to_string()))
            .ok_or_else(|| ParamError::invalid(name, format!("expected one of {}, got '{raw}'", values.join(", ")))),
        ParamType::Path => {
            if value.is_empty() {
                return Err(ParamError::invalid(name, "expected a path in your storage, got nothing"));
            }
            Ok(Value::String(value.trim_matches('/').to_string()))
        }
    }
}

fn check_range(name: &str, x: f64, min: Option<f64>, max: Option<f64>) -> Result<(), ParamError> {
    if let Some(min) = min.filter(|&m| x < m) {
        return Err(ParamError::invalid(name, format!("must be at least {min}, got {x}")));
    }
    if let Some(max) = max.filter(|&m| x > m) {
        return Err(ParamError::invalid(name, format!("must be at most {max}, got {x}")));
    }
    Ok(())
}

/// Renders a typed value back into the string a client would post (for the UWS parameter list).
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("n", ParamType::Integer { min: Some(1), max: Some(10) }, "count").default(3),
            ParamSpec::new("x", ParamType::Float { min: Some(0.0), max: None }, "size").required(),
            ParamSpec::new("grid", ParamType::Choice { values: vec!["rect", "hex"] }, "grid"),
            ParamSpec::new("flag", ParamType::Bool, "flag").default(false),
        ]
    }

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn valid_values_are_typed_and_defaults_filled() {
        let out = validate(&specs(), &raw(&[("x", "2.5"), ("grid", "HEX"), ("flag", "yes")])).unwrap();
        assert_eq!(out["n"], Value::from(3));
        assert_eq!(out["x"], Value::from(2.5));
        assert_eq!(out["grid"], Value::from("hex"));
        assert_eq!(out["flag"], Value::Bool(true));
        assert!(!out.contains_key("missing"));
    }

    #[test]
    fn every_kind_of_mistake_names_the_parameter() {
        let cases = [
            (raw(&[("x", "1"), ("bogus", "1")]), "unknown parameter 'bogus'"),
            (raw(&[]), "parameter 'x' is required"),
            (raw(&[("x", "-1")]), "parameter 'x': must be at least 0"),
            (raw(&[("x", "NaN")]), "parameter 'x': expected a number"),
            (raw(&[("x", "1"), ("n", "11")]), "parameter 'n': must be at most 10"),
            (raw(&[("x", "1"), ("n", "1.5")]), "parameter 'n': expected an integer"),
            (raw(&[("x", "1"), ("grid", "tri")]), "expected one of rect, hex"),
            (raw(&[("x", "1"), ("flag", "maybe")]), "expected true or false"),
            (raw(&[("x", "1"), ("x", "2")]), "given more than once"),
        ];
        for (input, expected) in cases {
            let err = validate(&specs(), &input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?}: '{err}' lacks '{expected}'");
        }
    }
}
