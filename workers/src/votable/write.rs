//! Writing whole VOTable documents.

use std::fmt::Write as _;
use std::io::{self, Write};

use base64::Engine as _;

use super::binary::{self, Column};
use super::{Encoding, Field, Table, Value, Version, escape, text};

fn field_attrs(head: &mut String, f: &Field) {
    let _ = write!(head, " name=\"{}\" datatype=\"{}\"", escape(&f.name), f.datatype.as_str());
    let attrs =
        [("arraysize", &f.arraysize), ("unit", &f.unit), ("ucd", &f.ucd), ("utype", &f.utype), ("xtype", &f.xtype)];
    for (attr, value) in attrs {
        if let Some(v) = value {
            let _ = write!(head, " {attr}=\"{}\"", escape(v));
        }
    }
}

/// Writes FIELD or PARAM children: DESCRIPTION and, for BINARY integer columns with nulls, VALUES.
fn field_body(head: &mut String, tag: &str, f: &Field, null: Option<i64>) {
    if f.description.is_none() && null.is_none() {
        head.push_str("/>\n");
        return;
    }
    head.push('>');
    if let Some(d) = &f.description {
        let _ = write!(head, "<DESCRIPTION>{}</DESCRIPTION>", escape(d));
    }
    if let Some(n) = null {
        let _ = write!(head, "<VALUES null=\"{n}\"/>");
    }
    let _ = writeln!(head, "</{tag}>");
}

pub(super) fn document(table: &Table, out: &mut impl Write, version: Version, encoding: Encoding) -> io::Result<()> {
    // BINARY has no null flags: integer columns holding a null get a VALUES null sentinel.
    let columns: Vec<Column> = table
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let shape = field.shape();
            let has_null = table.rows.iter().any(|r| matches!(r.get(i), Some(Value::Null)));
            let needs = encoding == Encoding::Binary && field.datatype.is_integer() && has_null;
            Column { field, shape, null_int: needs.then(|| binary::sentinel(field.datatype)) }
        })
        .collect();

    let head = head(table, &columns, version, encoding, Some(table.rows.len()));
    out.write_all(head.as_bytes())?;

    if encoding == Encoding::TableData {
        let mut line = String::new();
        for row in &table.rows {
            line.clear();
            line.push_str("<TR>");
            for (c, value) in columns.iter().zip(row) {
                line.push_str("<TD>");
                text::write_cell(&mut line, c.field, value);
                line.push_str("</TD>");
            }
            line.push_str("</TR>\n");
            out.write_all(line.as_bytes())?;
        }
        return out.write_all(b"</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n");
    }

    // Base64 in lines of 76 characters; rows are encoded in chunks so memory stays bounded.
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pending: Vec<u8> = Vec::new();
    let flush = |pending: &mut Vec<u8>, all: bool, out: &mut dyn Write| -> io::Result<()> {
        let take = if all { pending.len() } else { pending.len() / 57 * 57 };
        for chunk in pending[..take].chunks(57) {
            out.write_all(engine.encode(chunk).as_bytes())?;
            out.write_all(b"\n")?;
        }
        pending.drain(..take);
        Ok(())
    };
    for row in &table.rows {
        if encoding == Encoding::Binary2 {
            let mut mask = vec![0u8; columns.len().div_ceil(8)];
            for (i, v) in row.iter().enumerate() {
                if matches!(v, Value::Null) {
                    mask[i / 8] |= 0x80 >> (i % 8);
                }
            }
            pending.extend(mask);
        }
        for (c, value) in columns.iter().zip(row) {
            binary::encode(&mut pending, c, value)?;
        }
        if pending.len() >= 64 * 1024 {
            flush(&mut pending, false, out)?;
        }
    }
    flush(&mut pending, true, out)?;
    let close = if encoding == Encoding::Binary { "BINARY" } else { "BINARY2" };
    write!(out, "</STREAM></{close}></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n")
}

/// Everything before the first row; `nrows` is left out when not known (streaming).
fn head(table: &Table, columns: &[Column], version: Version, encoding: Encoding, nrows: Option<usize>) -> String {
    let mut head = String::new();
    head.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        head,
        "<VOTABLE version=\"{}\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<RESOURCE type=\"results\">",
        version.as_str()
    );
    for (name, value) in &table.infos {
        let _ = writeln!(head, "<INFO name=\"{}\" value=\"{}\"/>", escape(name), escape(value));
    }
    let _ = write!(head, "<TABLE name=\"{}\"", escape(&table.name));
    if let Some(n) = nrows {
        let _ = write!(head, " nrows=\"{n}\"");
    }
    head.push_str(">\n");
    if let Some(d) = &table.description {
        let _ = writeln!(head, "<DESCRIPTION>{}</DESCRIPTION>", escape(d));
    }
    for p in &table.params {
        head.push_str("<PARAM");
        field_attrs(&mut head, &p.field);
        let _ = write!(head, " value=\"{}\"", escape(&text::format_for(&p.field, &p.value)));
        field_body(&mut head, "PARAM", &p.field, None);
    }
    for c in columns {
        head.push_str("<FIELD");
        field_attrs(&mut head, c.field);
        field_body(&mut head, "FIELD", c.field, c.null_int);
    }
    match encoding {
        Encoding::TableData => head.push_str("<DATA><TABLEDATA>\n"),
        Encoding::Binary => head.push_str("<DATA><BINARY><STREAM encoding=\"base64\">\n"),
        Encoding::Binary2 => head.push_str("<DATA><BINARY2><STREAM encoding=\"base64\">\n"),
    }
    head
}

/// A TABLEDATA document written row by row, for tables too large to hold in memory: the
/// header of `table` (whose own rows are ignored), without `nrows`, then each row as it comes.
pub struct Stream<W: Write> {
    out: W,
    fields: Vec<Field>,
    line: String,
}

impl<W: Write> Stream<W> {
    pub fn start(table: &Table, mut out: W) -> io::Result<Self> {
        let columns: Vec<Column> =
            table.fields.iter().map(|field| Column { field, shape: field.shape(), null_int: None }).collect();
        out.write_all(head(table, &columns, Version::V1_4, Encoding::TableData, None).as_bytes())?;
        Ok(Stream { out, fields: table.fields.clone(), line: String::new() })
    }

    pub fn row(&mut self, row: &[Value]) -> io::Result<()> {
        self.line.clear();
        self.line.push_str("<TR>");
        for (field, value) in self.fields.iter().zip(row) {
            self.line.push_str("<TD>");
            text::write_cell(&mut self.line, field, value);
            self.line.push_str("</TD>");
        }
        self.line.push_str("</TR>\n");
        self.out.write_all(self.line.as_bytes())
    }

    /// Closes the document and returns the writer (flush it).
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n")?;
        Ok(self.out)
    }
}
