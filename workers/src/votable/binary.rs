//! The BINARY and BINARY2 serialisations: big-endian cells, variable-length cells prefixed by a
//! 4-byte item count, and (BINARY2 only) a null-flag bitmask in front of every row.

use super::{Datatype, Field, Shape, Value};

/// Per-column writing state: the integer null sentinel when BINARY needs one.
pub(super) struct Column<'a> {
    pub field: &'a Field,
    pub shape: Shape,
    pub null_int: Option<i64>,
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// The sentinel a BINARY integer column uses for nulls: the type's minimum (255 for bytes).
pub(super) fn sentinel(dt: Datatype) -> i64 {
    match dt {
        Datatype::UnsignedByte => 255,
        Datatype::Short => i16::MIN as i64,
        Datatype::Int => i32::MIN as i64,
        _ => i64::MIN,
    }
}

fn push_int(out: &mut Vec<u8>, dt: Datatype, n: i64, name: &str) -> std::io::Result<()> {
    let range = || invalid(format!("column {name}: {n} does not fit a {}", dt.as_str()));
    match dt {
        Datatype::UnsignedByte => out.push(u8::try_from(n).map_err(|_| range())?),
        Datatype::Short => out.extend(i16::try_from(n).map_err(|_| range())?.to_be_bytes()),
        Datatype::Int => out.extend(i32::try_from(n).map_err(|_| range())?.to_be_bytes()),
        _ => out.extend(n.to_be_bytes()),
    }
    Ok(())
}

fn push_float(out: &mut Vec<u8>, dt: Datatype, x: f64) {
    match dt {
        Datatype::Float | Datatype::FloatComplex => out.extend((x as f32).to_be_bytes()),
        _ => out.extend(x.to_be_bytes()),
    }
}

/// Primitives per item: complex numbers are two floats.
fn per_item(dt: Datatype) -> usize {
    if matches!(dt, Datatype::FloatComplex | Datatype::DoubleComplex) { 2 } else { 1 }
}

/// Appends one cell. `null` says the value is Null (BINARY2 has already flagged it).
pub(super) fn encode(out: &mut Vec<u8>, col: &Column, value: &Value) -> std::io::Result<()> {
    let f = col.field;
    let dt = f.datatype;
    let name = &f.name;
    let mismatch = || invalid(format!("column {name}: value {value:?} does not fit datatype {}", dt.as_str()));

    // Text columns: bytes (char, Latin-1 is not enforced: we write UTF-8 bytes) or UCS-2.
    if dt.is_text() {
        let s = match value {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            other => super::text::format(other),
        };
        let units: Vec<u16> = if dt == Datatype::UnicodeChar { s.encode_utf16().collect() } else { Vec::new() };
        let bytes = s.as_bytes();
        let len = if dt == Datatype::UnicodeChar { units.len() } else { bytes.len() };
        let n = match col.shape {
            Shape::Scalar => 1,
            Shape::Fixed(n) => n,
            Shape::Variable => {
                out.extend((len as u32).to_be_bytes());
                len
            }
        };
        for i in 0..n {
            if dt == Datatype::UnicodeChar {
                out.extend(units.get(i).copied().unwrap_or(0).to_be_bytes());
            } else {
                out.push(bytes.get(i).copied().unwrap_or(0));
            }
        }
        return Ok(());
    }

    // Everything else becomes a list of items; None marks a null scalar.
    enum Items {
        Bools(Vec<Option<bool>>),
        Ints(Vec<Option<i64>>),
        Floats(Vec<f64>),
    }
    let items = match (dt, value) {
        (Datatype::Boolean | Datatype::Bit, Value::Null) => Items::Bools(vec![None]),
        (Datatype::Boolean | Datatype::Bit, Value::Bool(b)) => Items::Bools(vec![Some(*b)]),
        (Datatype::Boolean | Datatype::Bit, Value::BoolArray(bs)) => {
            Items::Bools(bs.iter().map(|b| Some(*b)).collect())
        }
        (d, Value::Null) if d.is_integer() => Items::Ints(vec![None]),
        (d, Value::Int(n)) if d.is_integer() => Items::Ints(vec![Some(*n)]),
        (d, Value::IntArray(ns)) if d.is_integer() => Items::Ints(ns.iter().map(|n| Some(*n)).collect()),
        (d, Value::Null) if !d.is_integer() => Items::Floats(vec![f64::NAN; per_item(d)]),
        (_, Value::Float(x)) => Items::Floats(vec![*x]),
        (_, Value::Int(n)) => Items::Floats(vec![*n as f64]),
        (_, Value::FloatArray(xs)) => Items::Floats(xs.clone()),
        (_, Value::IntArray(ns)) => Items::Floats(ns.iter().map(|n| *n as f64).collect()),
        _ => return Err(mismatch()),
    };
    let (count, per) = match &items {
        Items::Bools(v) => (v.len(), 1),
        Items::Ints(v) => (v.len(), 1),
        Items::Floats(v) => (v.len() / per_item(dt), per_item(dt)),
    };
    let null_array = matches!(value, Value::Null);
    let n = match col.shape {
        Shape::Scalar => 1,
        Shape::Fixed(n) => n,
        Shape::Variable => {
            let n = if null_array { 0 } else { count };
            out.extend((n as u32).to_be_bytes());
            n
        }
    };
    match items {
        // A scalar bit: the spec puts it in the most significant bit, astropy (8.0) writes and
        // reads 0x08. Setting both is valid (padding bits are ignored) and every reader agrees.
        Items::Bools(bs) if dt == Datatype::Bit && col.shape == Shape::Scalar => {
            out.push(if bs[0].unwrap_or(false) { 0x88 } else { 0 });
        }
        Items::Bools(bs) if dt == Datatype::Bit => {
            let mut bytes = vec![0u8; n.div_ceil(8)];
            for (i, b) in bs.iter().take(n).enumerate() {
                if b.unwrap_or(false) {
                    bytes[i / 8] |= 0x80 >> (i % 8);
                }
            }
            out.extend(bytes);
        }
        Items::Bools(bs) => {
            for i in 0..n {
                out.push(match bs.get(i).copied().flatten() {
                    Some(true) => b'T',
                    Some(false) => b'F',
                    None => b'?',
                });
            }
        }
        Items::Ints(ns) => {
            let null = col.null_int.unwrap_or(0);
            for i in 0..n {
                push_int(out, dt, ns.get(i).copied().flatten().unwrap_or(null), name)?;
            }
        }
        Items::Floats(xs) => {
            for i in 0..n * per {
                push_float(out, dt, xs.get(i).copied().unwrap_or(f64::NAN));
            }
        }
    }
    Ok(())
}

/// Reads cells from a decoded stream.
pub(super) struct Decoder<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("binary stream ends inside a row")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn flags(&mut self, columns: usize) -> Result<Vec<bool>, String> {
        let mask = self.take(columns.div_ceil(8))?;
        Ok((0..columns).map(|i| mask[i / 8] & (0x80 >> (i % 8)) != 0).collect())
    }

    fn count(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// Reads one cell of `field`; integer cells equal to the column's null sentinel are Null.
    pub fn cell(&mut self, field: &Field, shape: Shape) -> Result<Value, String> {
        let dt = field.datatype;
        let n = match shape {
            Shape::Scalar => 1,
            Shape::Fixed(n) => n,
            Shape::Variable => self.count()?,
        };
        // A count larger than what is left cannot be honest; refuse before allocating.
        if n > self.bytes.len().saturating_sub(self.pos).saturating_mul(8) {
            return Err(format!("column {}: item count {n} exceeds the stream", field.name));
        }
        let null: Option<i64> = field.null.as_deref().and_then(|s| s.trim().parse().ok());
        match dt {
            Datatype::Char => {
                let raw = self.take(n)?;
                // Fixed-width strings are padded with NULs; Latin-1 bytes that are not UTF-8 are mapped.
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                let s = match std::str::from_utf8(&raw[..end]) {
                    Ok(s) => s.to_string(),
                    Err(_) => raw[..end].iter().map(|&b| b as char).collect(),
                };
                Ok(if s.is_empty() { Value::Null } else { Value::Text(s) })
            }
            Datatype::UnicodeChar => {
                let raw = self.take(n * 2)?;
                let units: Vec<u16> = raw.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
                let s = String::from_utf16_lossy(&units[..end]);
                Ok(if s.is_empty() { Value::Null } else { Value::Text(s) })
            }
            Datatype::Bit => {
                let raw = self.take(n.div_ceil(8))?;
                if shape == Shape::Scalar {
                    // Any set bit: astropy puts a scalar bit at 0x08, the spec at 0x80.
                    return Ok(Value::Bool(raw[0] != 0));
                }
                Ok(Value::BoolArray((0..n).map(|i| raw[i / 8] & (0x80 >> (i % 8)) != 0).collect()))
            }
            Datatype::Boolean => {
                let raw = self.take(n)?;
                let b = |c: u8| match c {
                    b'T' | b't' | b'1' => Some(true),
                    b'F' | b'f' | b'0' => Some(false),
                    _ => None,
                };
                Ok(if shape == Shape::Scalar {
                    b(raw[0]).map_or(Value::Null, Value::Bool)
                } else {
                    Value::BoolArray(raw.iter().map(|&c| b(c).unwrap_or(false)).collect())
                })
            }
            d if d.is_integer() => {
                let size = match d {
                    Datatype::UnsignedByte => 1,
                    Datatype::Short => 2,
                    Datatype::Int => 4,
                    _ => 8,
                };
                let raw = self.take(n * size)?;
                let ints: Vec<i64> = raw
                    .chunks(size)
                    .map(|c| match size {
                        1 => c[0] as i64,
                        2 => i16::from_be_bytes([c[0], c[1]]) as i64,
                        4 => i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as i64,
                        _ => i64::from_be_bytes(c.try_into().expect("8 bytes")),
                    })
                    .collect();
                Ok(if shape == Shape::Scalar {
                    if Some(ints[0]) == null { Value::Null } else { Value::Int(ints[0]) }
                } else if shape == Shape::Variable && n == 0 {
                    Value::Null
                } else {
                    Value::IntArray(ints)
                })
            }
            _ => {
                let size = if matches!(dt, Datatype::Float | Datatype::FloatComplex) { 4 } else { 8 };
                let raw = self.take(n * per_item(dt) * size)?;
                let xs: Vec<f64> = raw
                    .chunks(size)
                    .map(|c| {
                        if size == 4 {
                            f32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64
                        } else {
                            f64::from_be_bytes(c.try_into().expect("8 bytes"))
                        }
                    })
                    .collect();
                Ok(if shape == Shape::Scalar && per_item(dt) == 1 {
                    if xs[0].is_nan() { Value::Null } else { Value::Float(xs[0]) }
                } else if shape == Shape::Variable && n == 0 {
                    Value::Null
                } else {
                    Value::FloatArray(xs)
                })
            }
        }
    }
}
