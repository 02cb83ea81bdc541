//! VOTable 1.3/1.4/1.5: the tables vocloud writes as job results (SOM assignments, ocean time
//! series, codebooks, import reports) and the tables users give it (lists of spectra by URL, SSAP
//! query results).
//!
//! A [`Table`] is described by its [`Field`]s (spec names: `datatype`, `arraysize`, `unit`, `ucd`,
//! `utype`) and filled row by row with [`Value`]s. [`Table::write`] streams a VOTable 1.4
//! TABLEDATA document; [`Table::write_as`] picks the version and the serialisation (TABLEDATA,
//! BINARY or BINARY2, the last two base64 inside `STREAM`). [`read`] parses any of the three
//! serialisations back into [`Table`]s, refusing hostile XML (see [`read`]).
//!
//! Nulls: empty cells in TABLEDATA (the VOTable 1.3+ rule); in BINARY, NaN for floats, `?` for
//! booleans, and for integers a `VALUES null` sentinel the writer declares only when the column
//! has nulls; in BINARY2, the per-row null mask. So no sentinel leaks into readers.
//!
//! Why our own code and not cds-astro's `votable` crate (0.7.0, evaluated 2026-11): it pulls a
//! second quick-xml (0.23), serde_yaml and toml for formats we do not need, and turns on
//! serde_json's `preserve_order` feature, which feature unification would switch on for the whole
//! workspace (changing every JSON map's iteration order). The format itself is small.

mod binary;
mod read;
mod text;
mod write;

pub use read::{Document, Limits, ReadError, read, read_with};
pub use write::Stream;

/// A VOTable primitive type, as written in `datatype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    Boolean,
    Bit,
    UnsignedByte,
    Short,
    Int,
    Long,
    Float,
    Double,
    Char,
    UnicodeChar,
    FloatComplex,
    DoubleComplex,
}

impl Datatype {
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Boolean => "boolean",
            Datatype::Bit => "bit",
            Datatype::UnsignedByte => "unsignedByte",
            Datatype::Short => "short",
            Datatype::Int => "int",
            Datatype::Long => "long",
            Datatype::Float => "float",
            Datatype::Double => "double",
            Datatype::Char => "char",
            Datatype::UnicodeChar => "unicodeChar",
            Datatype::FloatComplex => "floatComplex",
            Datatype::DoubleComplex => "doubleComplex",
        }
    }

    pub fn parse(s: &str) -> Option<Datatype> {
        Some(match s {
            "boolean" => Datatype::Boolean,
            "bit" => Datatype::Bit,
            "unsignedByte" => Datatype::UnsignedByte,
            "short" => Datatype::Short,
            "int" => Datatype::Int,
            "long" => Datatype::Long,
            "float" => Datatype::Float,
            "double" => Datatype::Double,
            "char" => Datatype::Char,
            "unicodeChar" => Datatype::UnicodeChar,
            "floatComplex" => Datatype::FloatComplex,
            "doubleComplex" => Datatype::DoubleComplex,
            _ => return None,
        })
    }

    fn is_integer(self) -> bool {
        matches!(self, Datatype::UnsignedByte | Datatype::Short | Datatype::Int | Datatype::Long)
    }

    fn is_text(self) -> bool {
        matches!(self, Datatype::Char | Datatype::UnicodeChar)
    }
}

/// A column: name, type, and the optional metadata VO tools use.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub datatype: Datatype,
    /// `*` for variable-length strings/arrays, `"N"` for fixed ones; `None` for scalars.
    pub arraysize: Option<String>,
    pub unit: Option<String>,
    pub ucd: Option<String>,
    pub description: Option<String>,
    pub utype: Option<String>,
    pub xtype: Option<String>,
    /// The `VALUES null` sentinel of an integer column (read from files; the writer chooses its own).
    pub null: Option<String>,
}

impl Field {
    pub fn new(name: &str, datatype: Datatype) -> Field {
        let arraysize = datatype.is_text().then(|| "*".to_string());
        Field {
            name: name.into(),
            datatype,
            arraysize,
            unit: None,
            ucd: None,
            description: None,
            utype: None,
            xtype: None,
            null: None,
        }
    }

    pub fn array(mut self, arraysize: &str) -> Field {
        self.arraysize = Some(arraysize.into());
        self
    }

    pub fn unit(mut self, unit: &str) -> Field {
        self.unit = Some(unit.into());
        self
    }

    pub fn ucd(mut self, ucd: &str) -> Field {
        self.ucd = Some(ucd.into());
        self
    }

    pub fn utype(mut self, utype: &str) -> Field {
        self.utype = Some(utype.into());
        self
    }

    pub fn xtype(mut self, xtype: &str) -> Field {
        self.xtype = Some(xtype.into());
        self
    }

    pub fn describe(mut self, description: &str) -> Field {
        self.description = Some(description.into());
        self
    }

    /// The shape of one cell, from `arraysize`.
    fn shape(&self) -> Shape {
        Shape::parse(self.arraysize.as_deref())
    }
}

/// One cell's layout: a scalar, a fixed number of items, or a variable number (with an optional
/// maximum, as in `10*`). Multidimensional sizes (`2x3`, `2x*`) count all items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Fixed(usize),
    Variable,
}

impl Shape {
    fn parse(arraysize: Option<&str>) -> Shape {
        let Some(size) = arraysize.map(str::trim).filter(|s| !s.is_empty()) else { return Shape::Scalar };
        if size.ends_with('*') {
            return Shape::Variable;
        }
        // Saturating: a hostile `arraysize="99999999999x99999999999"` must not overflow; the
        // reader then finds the stream too short.
        let n = size.split('x').map(|d| d.trim().parse::<usize>().unwrap_or(1)).fold(1usize, usize::saturating_mul);
        Shape::Fixed(n)
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    FloatArray(Vec<f64>),
    IntArray(Vec<i64>),
    /// Boolean and bit arrays; a null element (`?`) reads as false.
    BoolArray(Vec<bool>),
}

impl Value {
    /// The cell as text, as a TABLEDATA cell would hold it (what string-minded callers want).
    pub fn to_text(&self) -> String {
        text::format(self)
    }
}

/// A `PARAM`: a constant with the metadata of a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub field: Field,
    pub value: Value,
}

/// The document versions vocloud writes. All three share the v1.3 namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    V1_3,
    #[default]
    V1_4,
    V1_5,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_3 => "1.3",
            Version::V1_4 => "1.4",
            Version::V1_5 => "1.5",
        }
    }
}

/// How the rows are serialised inside `DATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    TableData,
    Binary,
    Binary2,
}

/// A table with its metadata; rows are added and then the whole document is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub name: String,
    pub description: Option<String>,
    /// `INFO name="…" value="…"` elements on the resource (provenance, parameters used).
    pub infos: Vec<(String, String)>,
    /// `PARAM`s of the table (constants such as the SSAP query position).
    pub params: Vec<Param>,
    pub fields: Vec<Field>,
    pub rows: Vec<Vec<Value>>,
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` escaped for XML.
fn escape_into(out: &mut String, text: &str) {
    // Most cells need no escaping at all.
    if !text.bytes().any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0..=0x1f)) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters at all; drop them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            // Attribute values normalise raw newlines/tabs to spaces; keep them as references.
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

impl Table {
    pub fn new(name: &str, fields: Vec<Field>) -> Table {
        Table { name: name.into(), fields, ..Table::default() }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.fields.len(), "row width must match the fields");
        self.rows.push(row);
    }

    /// The index of the first column whose UCD, utype or name matches `key` (case-insensitive).
    pub fn column(&self, key: &str) -> Option<usize> {
        let eq = |s: &Option<String>| s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(key));
        let by = |f: &dyn Fn(&Field) -> bool| self.fields.iter().position(f);
        by(&|f| eq(&f.ucd)).or_else(|| by(&|f| eq(&f.utype))).or_else(|| by(&|f| f.name.eq_ignore_ascii_case(key)))
    }

    /// Writes the whole document as VOTable 1.4 TABLEDATA.
    pub fn write(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        self.write_as(out, Version::V1_4, Encoding::TableData)
    }

    /// Writes the whole document in the given version and serialisation. A value that does not
    /// fit its column in a binary serialisation (text in a number column) is an `InvalidData` error.
    pub fn write_as(&self, out: &mut impl std::io::Write, version: Version, encoding: Encoding) -> std::io::Result<()> {
        write::document(self, out, version, encoding)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out).expect("writing to a Vec cannot fail");
        out
    }
}

#[cfg(test)]
mod tests;
