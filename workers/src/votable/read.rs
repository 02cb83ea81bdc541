//! Reading VOTable documents (1.1–1.5; TABLEDATA, BINARY, BINARY2) from untrusted bytes.
//!
//! Hostile XML is refused rather than tamed: any DOCTYPE (so no DTD, no external or internal
//! entity, no "billion laughs") is an error, only the five predefined entities and character
//! references are understood, element nesting is bounded, and so are the input size, the number
//! of cells and the memory the parsed cells take. `STREAM href` (data elsewhere) and
//! FITS-serialised tables are refused: the reader never opens files or URLs.
//!
//! Memory: a parsed cell costs a [`Value`] (32 bytes) plus its array items or text, so it is
//! counted as it is parsed, against [`Limits::max_memory`] and against 32 bytes per input byte
//! (+1 MiB). Honest documents stay well inside that ratio (a TABLEDATA cell takes at least
//! `<TD/>`, a BINARY scalar at least one byte, 1.33 in base64); rows with fewer `TD`s than
//! `FIELD`s are refused, as astropy does (its error E21), since padding them cost nothing in
//! the input: 138 KB of `<TR/>` under 20,000 FIELDs used to become 1.1 GB of null cells.

use base64::Engine as _;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::binary::Decoder;
use super::{Datatype, Field, Param, Table, Value, text};

/// Bounds for untrusted documents.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting accepted (real VOTables rarely pass 8).
    pub max_depth: usize,
    /// Most table cells accepted over the whole document.
    pub max_cells: usize,
    /// Most bytes the parsed cells may take (see the module comment for how they are counted).
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 256 << 20, max_depth: 64, max_cells: 50_000_000, max_memory: 1 << 30 }
    }
}

/// Counts the cells and the memory a document's parsed cells take, and stops at the limits.
struct Tally {
    cells: usize,
    memory: usize,
    max_cells: usize,
    max_memory: usize,
}

impl Tally {
    fn new(limits: &Limits, input_bytes: usize) -> Tally {
        // Honest documents take at most ~24 bytes of parsed cells per input byte (a one-byte
        // BINARY scalar in base64); more means cells that cost the input nothing.
        let ratio = input_bytes.saturating_mul(32).saturating_add(1 << 20);
        Tally { cells: 0, memory: 0, max_cells: limits.max_cells, max_memory: limits.max_memory.min(ratio) }
    }

    fn add(&mut self, value: &Value) -> Result<(), ReadError> {
        let heap = match value {
            Value::Text(s) => s.len(),
            Value::FloatArray(v) => v.len() * 8,
            Value::IntArray(v) => v.len() * 8,
            Value::BoolArray(v) => v.len(),
            _ => 0,
        };
        self.cells += 1;
        self.memory = self.memory.saturating_add(std::mem::size_of::<Value>() + heap);
        if self.cells > self.max_cells {
            return Err(ReadError::Refused(format!("more than {} cells", self.max_cells)));
        }
        if self.memory > self.max_memory {
            return Err(ReadError::Refused(format!(
                "the table's cells would take more than {} MB of memory",
                self.max_memory >> 20
            )));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a VOTable: {0}")]
    NotVotable(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("bad data: {0}")]
    Data(String),
}

/// A parsed document: every TABLE in document order, plus the INFOs and PARAMs outside tables
/// (SSAP services report `QUERY_STATUS` there; DataLink service descriptors keep PARAMs there).
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub version: String,
    pub infos: Vec<(String, String)>,
    pub params: Vec<Param>,
    pub tables: Vec<Table>,
}

impl Document {
    /// The value of the first INFO outside tables with this name (`QUERY_STATUS`).
    pub fn info(&self, name: &str) -> Option<&str> {
        self.infos.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Parses `bytes` with the default [`Limits`].
pub fn read(bytes: &[u8]) -> Result<Document, ReadError> {
    read_with(bytes, Limits::default())
}

fn attrs(e: &BytesStart) -> Result<Vec<(String, String)>, ReadError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| ReadError::Xml { position: 0, message: e.to_string() })?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a.unescape_value().map_err(|e| ReadError::Xml { position: 0, message: e.to_string() })?;
        out.push((key, value.into_owned()));
    }
    Ok(out)
}

fn get(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn field_from(a: &[(String, String)]) -> Result<Field, ReadError> {
    let name = get(a, "name").or_else(|| get(a, "ID")).unwrap_or_default();
    let dt = get(a, "datatype").unwrap_or_default();
    let datatype =
        Datatype::parse(&dt).ok_or_else(|| ReadError::Data(format!("field {name:?}: unknown datatype {dt:?}")))?;
    Ok(Field {
        name,
        datatype,
        arraysize: get(a, "arraysize"),
        unit: get(a, "unit"),
        ucd: get(a, "ucd"),
        description: None,
        utype: get(a, "utype"),
        xtype: get(a, "xtype"),
        null: None,
    })
}

#[derive(PartialEq)]
enum Stream {
    None,
    Binary,
    Binary2,
}

/// Parses `bytes` under `limits`.
pub fn read_with(bytes: &[u8], limits: Limits) -> Result<Document, ReadError> {
    if bytes.len() > limits.max_bytes {
        return Err(ReadError::Refused(format!(
            "document of {} bytes exceeds the {} byte limit",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let xml_err = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| ReadError::Xml {
        position: reader.buffer_position(),
        message: e.to_string(),
    };

    let mut doc = Document::default();
    let mut seen_root = false;
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut table: Option<Table> = None;
    let mut field: Option<Field> = None; // the FIELD or PARAM being read
    let mut param_value: Option<String> = None; // set while inside a PARAM
    let mut info: Option<(String, String)> = None;
    let mut row: Vec<Value> = Vec::new();
    let mut stream = Stream::None;
    let mut tally = Tally::new(&limits, bytes.len());

    loop {
        let event = reader.read_event().map_err(|e| xml_err(&reader, &e))?;
        // Empty elements are handled as a start immediately followed by an end.
        let (start, end) = match &event {
            Event::Start(e) => (Some(e.clone()), None),
            Event::Empty(e) => (Some(e.clone()), Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())),
            Event::End(e) => (None, Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())),
            Event::Text(t) => {
                text.push_str(&t.decode().map_err(|e| xml_err(&reader, &e))?);
                (None, None)
            }
            Event::CData(t) => {
                text.push_str(&t.decode().map_err(|e| xml_err(&reader, &e))?);
                (None, None)
            }
            Event::GeneralRef(r) => {
                match r.resolve_char_ref().map_err(|e| xml_err(&reader, &e))? {
                    Some(c) => text.push(c),
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&reader, &e))?;
                        text.push_str(match name.as_ref() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            other => return Err(ReadError::Refused(format!("undefined entity &{other};"))),
                        });
                    }
                }
                (None, None)
            }
            Event::DocType(_) => {
                return Err(ReadError::Refused("documents with a DOCTYPE (DTD, entities) are not accepted".into()));
            }
            Event::Eof => break,
            _ => (None, None),
        };

        if let Some(e) = start {
            let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
            if stack.len() >= limits.max_depth {
                return Err(ReadError::Refused(format!("elements nested deeper than {}", limits.max_depth)));
            }
            if !seen_root {
                if name != "VOTABLE" {
                    return Err(ReadError::NotVotable(format!("the root element is <{name}>, not <VOTABLE>")));
                }
                seen_root = true;
            }
            stack.push(name.clone());
            text.clear();
            let a = attrs(&e)?;
            match name.as_str() {
                "VOTABLE" => doc.version = get(&a, "version").unwrap_or_default(),
                "TABLE" => {
                    if table.is_some() {
                        return Err(ReadError::Data("TABLE inside TABLE".into()));
                    }
                    table = Some(Table { name: get(&a, "name").unwrap_or_default(), ..Table::default() });
                }
                "FIELD" => field = Some(field_from(&a)?),
                "PARAM" => {
                    field = Some(field_from(&a)?);
                    param_value = Some(get(&a, "value").unwrap_or_default());
                }
                "VALUES" => {
                    if let (Some(f), Some(null)) = (field.as_mut(), get(&a, "null")) {
                        f.null = Some(null);
                    }
                }
                "INFO" => info = Some((get(&a, "name").unwrap_or_default(), get(&a, "value").unwrap_or_default())),
                "TR" => row.clear(),
                "BINARY" => stream = Stream::Binary,
                "BINARY2" => stream = Stream::Binary2,
                "STREAM" => {
                    if get(&a, "href").is_some() {
                        return Err(ReadError::Refused("STREAM href (data stored elsewhere) is not followed".into()));
                    }
                    if let Some(enc) = get(&a, "encoding").filter(|e| e != "base64") {
                        return Err(ReadError::Data(format!("STREAM encoding {enc:?} is not supported (only base64)")));
                    }
                }
                "FITS" => return Err(ReadError::Refused("FITS-serialised tables are not supported".into())),
                _ => {}
            }
        }

        if let Some(name) = end {
            stack.pop();
            let parent = stack.last().map(String::as_str).unwrap_or("");
            match name.as_str() {
                "DESCRIPTION" => {
                    let d = text.trim().to_string();
                    match (parent, field.as_mut(), table.as_mut()) {
                        ("FIELD" | "PARAM", Some(f), _) => f.description = Some(d),
                        ("TABLE", _, Some(t)) => t.description = Some(d),
                        _ => {}
                    }
                }
                "FIELD" => {
                    if let (Some(f), Some(t)) = (field.take(), table.as_mut()) {
                        t.fields.push(f);
                    }
                }
                "PARAM" => {
                    if let (Some(f), Some(raw)) = (field.take(), param_value.take()) {
                        let value =
                            text::parse(&f, &raw).map_err(|e| ReadError::Data(format!("PARAM {}: {e}", f.name)))?;
                        let p = Param { field: f, value };
                        match table.as_mut() {
                            Some(t) => t.params.push(p),
                            None => doc.params.push(p),
                        }
                    }
                }
                "INFO" => {
                    if let Some((n, mut v)) = info.take() {
                        // Some services put the message in the content rather than `value`.
                        if v.is_empty() {
                            v = text.trim().to_string();
                        }
                        match table.as_mut() {
                            Some(t) => t.infos.push((n, v)),
                            None => doc.infos.push((n, v)),
                        }
                    }
                }
                "TD" => {
                    let t = table.as_ref().ok_or_else(|| ReadError::Data("TD outside a TABLE".into()))?;
                    let f = t.fields.get(row.len()).ok_or_else(|| {
                        ReadError::Data(format!(
                            "row {} has more cells than the {} fields",
                            t.rows.len() + 1,
                            t.fields.len()
                        ))
                    })?;
                    let v = text::parse(f, &text)
                        .map_err(|e| ReadError::Data(format!("row {}, column {}: {e}", t.rows.len() + 1, f.name)))?;
                    tally.add(&v)?;
                    row.push(v);
                }
                "TR" => {
                    if let Some(t) = table.as_mut() {
                        if row.len() < t.fields.len() {
                            return Err(ReadError::Data(format!(
                                "row {} has {} cells for {} fields (a TR must hold a TD for every FIELD)",
                                t.rows.len() + 1,
                                row.len(),
                                t.fields.len()
                            )));
                        }
                        t.rows.push(std::mem::take(&mut row));
                    }
                }
                "STREAM" => {
                    let t = table.as_mut().ok_or_else(|| ReadError::Data("STREAM outside a TABLE".into()))?;
                    let b64: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(&b64)
                        .map_err(|e| ReadError::Data(format!("STREAM is not valid base64: {e}")))?;
                    decode_rows(t, &data, stream == Stream::Binary2, &mut tally)?;
                }
                "TABLE" => {
                    if let Some(t) = table.take() {
                        doc.tables.push(t);
                    }
                }
                _ => {}
            }
            text.clear();
        }
    }
    if !seen_root {
        return Err(ReadError::NotVotable("no <VOTABLE> element".into()));
    }
    if !stack.is_empty() {
        return Err(ReadError::Xml {
            position: reader.buffer_position(),
            message: "document ends inside an element".into(),
        });
    }
    Ok(doc)
}

fn decode_rows(t: &mut Table, data: &[u8], flags: bool, tally: &mut Tally) -> Result<(), ReadError> {
    let shapes: Vec<_> = t.fields.iter().map(Field::shape).collect();
    let mut d = Decoder { bytes: data, pos: 0 };
    while !d.done() {
        let start = d.pos;
        let nulls = if flags { d.flags(t.fields.len()).map_err(ReadError::Data)? } else { vec![false; t.fields.len()] };
        let mut r = Vec::with_capacity(t.fields.len());
        for (i, (f, shape)) in t.fields.iter().zip(&shapes).enumerate() {
            let v = d.cell(f, *shape).map_err(|e| ReadError::Data(format!("row {}: {e}", t.rows.len() + 1)))?;
            let v = if nulls[i] { Value::Null } else { v };
            tally.add(&v)?;
            r.push(v);
        }
        // A row must consume bytes, or a stream with no (or only empty) columns loops forever.
        if d.pos == start {
            return Err(ReadError::Data("binary rows of zero bytes (no fields?)".into()));
        }
        t.rows.push(r);
    }
    Ok(())
}
