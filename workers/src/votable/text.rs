//! TABLEDATA cells (and PARAM values): values to text and back, per datatype.

use super::{Datatype, Field, Shape, Value};

pub(super) fn number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Shortest representation that reads back to the same f64.
        format!("{x:?}")
    }
}

/// Appends a TABLEDATA cell, escaped, without intermediate strings (the writer's hot loop).
pub(super) fn write_cell(out: &mut String, field: &Field, value: &Value) {
    use std::fmt::Write as _;
    let num = |out: &mut String, x: f64| {
        if x.is_finite() {
            let _ = write!(out, "{x:?}");
        } else {
            out.push_str(&number(x));
        }
    };
    match value {
        Value::Text(s) => super::escape_into(out, s),
        Value::Float(x) => num(out, *x),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::FloatArray(xs) => {
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                num(out, *x);
            }
        }
        Value::IntArray(ns) => {
            for (i, n) in ns.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{n}");
            }
        }
        other => out.push_str(&format_for(field, other)),
    }
}

/// The unescaped text of a cell.
pub(super) fn format(value: &Value) -> String {
    let join = |items: Vec<String>| items.join(" ");
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "T" } else { "F" }.into(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => number(*x),
        Value::Text(s) => s.clone(),
        Value::FloatArray(xs) => join(xs.iter().map(|x| number(*x)).collect()),
        Value::IntArray(ns) => join(ns.iter().map(i64::to_string).collect()),
        Value::BoolArray(bs) => join(bs.iter().map(|b| if *b { "T" } else { "F" }.to_string()).collect()),
    }
}

/// A cell formatted for a column: booleans in a `bit` column are 0/1, the rest as [`format`].
pub(super) fn format_for(field: &Field, value: &Value) -> String {
    match (field.datatype, value) {
        (Datatype::Bit, Value::Bool(b)) => if *b { "1" } else { "0" }.into(),
        (Datatype::Bit, Value::BoolArray(bs)) => {
            bs.iter().map(|b| if *b { "1" } else { "0" }).collect::<Vec<_>>().join(" ")
        }
        _ => format(value),
    }
}

fn parse_int(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        // Hex integers are two's-complement bit patterns (0xFFFFFFFF is -1 in an int column).
        u64::from_str_radix(hex, 16).map(|u| u as i64)
    } else {
        digits.parse::<u64>().map(|u| u as i64)
    }
    .map_err(|_| format!("not an integer: {t:?}"))?;
    Ok(if neg { magnitude.wrapping_neg() } else { magnitude })
}

fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    match t {
        "NaN" | "nan" | "NAN" => return Ok(f64::NAN),
        "Inf" | "+Inf" | "inf" | "+inf" | "Infinity" | "+Infinity" | "INF" => return Ok(f64::INFINITY),
        "-Inf" | "-inf" | "-Infinity" | "-INF" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    t.parse::<f64>().map_err(|_| format!("not a number: {t:?}"))
}

fn parse_bool(s: &str) -> Result<Option<bool>, String> {
    match s.trim() {
        "T" | "t" | "true" | "TRUE" | "True" | "1" => Ok(Some(true)),
        "F" | "f" | "false" | "FALSE" | "False" | "0" => Ok(Some(false)),
        "?" | "" | " " => Ok(None),
        other => Err(format!("not a boolean: {other:?}")),
    }
}

/// Parses a cell of `field`. Empty cells, and integer cells equal to the column's `VALUES null`,
/// are [`Value::Null`].
pub(super) fn parse(field: &Field, raw: &str) -> Result<Value, String> {
    let shape = field.shape();
    if field.datatype.is_text() {
        return Ok(if raw.is_empty() { Value::Null } else { Value::Text(raw.to_string()) });
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(Value::Null);
    }
    if field.null.as_deref().is_some_and(|n| n.trim() == trimmed) {
        return Ok(Value::Null);
    }
    let items = trimmed.split_ascii_whitespace();
    let dt = field.datatype;
    if shape == Shape::Scalar {
        return Ok(match dt {
            Datatype::Boolean | Datatype::Bit => parse_bool(trimmed)?.map_or(Value::Null, Value::Bool),
            dt if dt.is_integer() => Value::Int(parse_int(trimmed)?),
            Datatype::Float | Datatype::Double => Value::Float(parse_float(trimmed)?),
            // A complex scalar is two numbers.
            _ => Value::FloatArray(items.map(parse_float).collect::<Result<_, _>>()?),
        });
    }
    Ok(match dt {
        Datatype::Boolean | Datatype::Bit => {
            // Bit arrays may be written without separators ("0101").
            let tokens: Vec<String> = if dt == Datatype::Bit && !trimmed.contains(' ') {
                trimmed.chars().map(String::from).collect()
            } else {
                items.map(String::from).collect()
            };
            Value::BoolArray(
                tokens.iter().map(|t| parse_bool(t).map(|b| b.unwrap_or(false))).collect::<Result<_, _>>()?,
            )
        }
        dt if dt.is_integer() => Value::IntArray(items.map(parse_int).collect::<Result<_, _>>()?),
        _ => Value::FloatArray(items.map(parse_float).collect::<Result<_, _>>()?),
    })
}
