//! Writing VOTable 1.4 documents (TABLEDATA serialisation) for job results: tables of SOM
//! assignments, ocean time series, codebooks.
//!
//! A [`Table`] is described by its [`Field`]s (spec names: `datatype`, `arraysize`, `unit`, `ucd`)
//! and filled row by row with [`Value`]s; [`Table::write`] streams the document. Nulls are empty
//! cells for strings and arrays, and the empty cell (the VOTable 1.3+ rule) for numbers too, so
//! no sentinel values leak into readers.

use std::fmt::Write as _;
use std::io::{self, Write};

/// A VOTable primitive type, as written in `datatype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    Boolean,
    Short,
    Int,
    Long,
    Float,
    Double,
    Char,
}

impl Datatype {
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Boolean => "boolean",
            Datatype::Short => "short",
            Datatype::Int => "int",
            Datatype::Long => "long",
            Datatype::Float => "float",
            Datatype::Double => "double",
            Datatype::Char => "char",
        }
    }
}

/// A column: name, type, and the optional metadata VO tools use.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub datatype: Datatype,
    /// `*` for variable-length strings/arrays, `"N"` for fixed ones; `None` for scalars.
    pub arraysize: Option<String>,
    pub unit: Option<String>,
    pub ucd: Option<String>,
    pub description: Option<String>,
}

impl Field {
    pub fn new(name: &str, datatype: Datatype) -> Field {
        let arraysize = (datatype == Datatype::Char).then(|| "*".to_string());
        Field { name: name.into(), datatype, arraysize, unit: None, ucd: None, description: None }
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

    pub fn describe(mut self, description: &str) -> Field {
        self.description = Some(description.into());
        self
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
}

/// A table with its metadata; rows are added and then the whole document is written.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub name: String,
    pub description: Option<String>,
    /// `INFO name="…" value="…"` elements on the resource (provenance, parameters used).
    pub infos: Vec<(String, String)>,
    pub fields: Vec<Field>,
    pub rows: Vec<Vec<Value>>,
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters at all; drop them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Shortest representation that reads back to the same f64.
        format!("{x:?}")
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "T" } else { "F" }.into(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => number(*x),
        Value::Text(s) => escape(s),
        Value::FloatArray(xs) => xs.iter().map(|x| number(*x)).collect::<Vec<_>>().join(" "),
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

    /// Writes the whole VOTable document.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut head = String::new();
        head.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        head.push_str(
            "<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<RESOURCE type=\"results\">\n",
        );
        for (name, value) in &self.infos {
            let _ = writeln!(head, "<INFO name=\"{}\" value=\"{}\"/>", escape(name), escape(value));
        }
        let _ = writeln!(head, "<TABLE name=\"{}\" nrows=\"{}\">", escape(&self.name), self.rows.len());
        if let Some(d) = &self.description {
            let _ = writeln!(head, "<DESCRIPTION>{}</DESCRIPTION>", escape(d));
        }
        for f in &self.fields {
            let _ = write!(head, "<FIELD name=\"{}\" datatype=\"{}\"", escape(&f.name), f.datatype.as_str());
            for (attr, value) in [("arraysize", &f.arraysize), ("unit", &f.unit), ("ucd", &f.ucd)] {
                if let Some(v) = value {
                    let _ = write!(head, " {attr}=\"{}\"", escape(v));
                }
            }
            match &f.description {
                Some(d) => {
                    let _ = writeln!(head, "><DESCRIPTION>{}</DESCRIPTION></FIELD>", escape(d));
                }
                None => head.push_str("/>\n"),
            }
        }
        head.push_str("<DATA><TABLEDATA>\n");
        out.write_all(head.as_bytes())?;
        let mut line = String::new();
        for row in &self.rows {
            line.clear();
            line.push_str("<TR>");
            for value in row {
                let _ = write!(line, "<TD>{}</TD>", cell(value));
            }
            line.push_str("</TR>\n");
            out.write_all(line.as_bytes())?;
        }
        out.write_all(b"</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out).expect("writing to a Vec cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_fields_rows_nulls_and_escapes() {
        let mut t = Table::new(
            "t",
            vec![
                Field::new("name", Datatype::Char).ucd("meta.id"),
                Field::new("flux", Datatype::Double).unit("erg/s/cm2/Angstrom"),
                Field::new("n", Datatype::Long),
                Field::new("spec", Datatype::Float).array("*"),
            ],
        );
        t.infos.push(("seed".into(), "42".into()));
        t.push(vec![Value::Text("a<b&c".into()), Value::Float(0.1), Value::Int(7), Value::FloatArray(vec![1.0, 2.5])]);
        t.push(vec![Value::Null, Value::Float(f64::NAN), Value::Null, Value::FloatArray(vec![])]);
        let text = String::from_utf8(t.to_bytes()).unwrap();
        assert!(text.contains("<TR><TD>a&lt;b&amp;c</TD><TD>0.1</TD><TD>7</TD><TD>1.0 2.5</TD></TR>"), "{text}");
        assert!(text.contains("<TR><TD></TD><TD>NaN</TD><TD></TD><TD></TD></TR>"), "{text}");
        assert!(text.contains(r#"<FIELD name="name" datatype="char" arraysize="*" ucd="meta.id"/>"#), "{text}");
        assert!(text.contains(r#"<TABLE name="t" nrows="2">"#));
        assert!(text.contains(r#"<INFO name="seed" value="42"/>"#));
    }
}
