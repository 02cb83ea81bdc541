//! The structure of a FITS file, from its headers, before cfitsio reads any data: every HDU's
//! type, shape, table columns and declared data size, checked with overflow-safe arithmetic
//! against the bytes that really follow the header (FITS standard 4.0, sections 4 and 7).
//!
//! Why our own walk and not cfitsio's: cfitsio trusts the header. A 2,880-byte file declaring
//! NAXIS1 = 2^40 opens fine, and the caller multiplies the axes (the product wrapped to 0 and
//! passed a budget check, then the process aborted on a 8 TiB allocation); a table's NAXIS2 or a
//! TFORM repeat count sizes fitsio's `read_col` buffer unchecked; and fitsio's TFORM parser
//! panics on codes it does not know (P/Q variable-length arrays, C/M complex, ASCII-table `F`),
//! so such an HDU must never be opened through it. The walk reads only headers (80-byte cards in
//! 2,880-byte blocks) and seeks over data; gzip files are decompressed as a stream, counted
//! against the budget, because cfitsio inflates them whole in memory.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use super::error::Problem;

const BLOCK: u64 = 2880;
const CARD: usize = 80;
/// The FITS standard allows at most 999 columns (TFIELDS) and 999 axes.
const MAX_INDEXED: u64 = 999;

/// One HDU as its header declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hdu {
    /// 0-based, as cfitsio numbers HDUs.
    pub index: usize,
    /// Where its data starts (in the inflated stream for gzip files).
    pub data_offset: u64,
    /// EXTNAME, upper-cased and trimmed.
    pub name: String,
    pub body: Body,
    /// The keywords [`super::plain`] reads an image by (WCS, scaling, label, object), as found.
    pub keys: BTreeMap<&'static str, Card>,
    /// The names of the header's first [`LEADING`] cards, in order: cfitsio refuses headers whose
    /// mandatory keywords are out of order, which [`super::plain`] must know to refuse them alike.
    pub leading: Vec<String>,
    /// Bytes of its last 2,880-byte block that the file lacks (its final padding): 0 but for a
    /// last HDU whose padding was cut. cfitsio reads whole blocks and cannot read its data.
    pub missing: u64,
    /// Every card before END is printable ASCII and starts with a standard keyword (A–Z, 0–9,
    /// `-`, `_`, then spaces): cfitsio refuses some other headers as it reads them.
    pub standard: bool,
}

/// How many card names [`Hdu::leading`] keeps.
pub const LEADING: usize = 16;

/// Keywords an image is read by without cfitsio (see [`super::plain`]).
pub const READING_KEYS: &[&str] = &[
    "SIMPLE", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "CRVAL1", "CDELT1", "CD1_1", "CRPIX1", "CTYPE1", "DC-FLAG",
    "COEFF0", "COEFF1", "CLASS", "OBJTYPE", "LABEL", "OBJECT", "OBJNAME",
];

/// One of [`READING_KEYS`] in a header: its value field (card bytes 11–80), or `None` when the
/// header makes its value ambiguous — the keyword is repeated, written in lower case, or has
/// no `= ` value indicator — where cfitsio's answer depends on how it searches the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Card(pub Option<String>);

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// An image (primary or IMAGE extension); `shape` in FITS order, NAXIS1 first (empty: no data).
    Image { bitpix: i64, shape: Vec<u64> },
    /// A binary table whose every column fitsio can describe.
    Table { rows: u64, row_bytes: u64, columns: Vec<Column> },
    /// Anything we never open: ASCII tables, random groups, unknown extensions, binary tables
    /// with column types fitsio cannot describe. `why` says what it is.
    Skipped { why: String },
}

/// A binary table column: TTYPEn, the TFORMn type code and repeat count, and where it sits in
/// a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub code: char,
    pub repeat: u64,
    /// Byte offset in the row.
    pub offset: u64,
}

impl Column {
    /// Whether the column holds numbers the spectra readers can use.
    pub fn is_numeric(&self) -> bool {
        matches!(self.code, 'B' | 'I' | 'J' | 'K' | 'E' | 'D')
    }
}

/// The HDUs of a plain FITS file of `len` bytes (seeking over data); an error when the file is
/// not FITS, a header is malformed, or any HDU declares more data than the file holds.
pub fn walk<R: Read + Seek>(file: &mut R, len: u64) -> Result<Vec<Hdu>, Problem> {
    // No seek when the bytes reach the end of the file, where the walk stops without reading (a
    // folder of small spectra is mostly system calls: reading the padding and then the end of
    // the file took ~8 of the ~15 calls per file).
    let mut seek = |f: &mut R, offset: u64, _: u64, wanted: u64| {
        let there = wanted.min(len.saturating_sub(offset));
        if offset + there < len {
            f.seek(SeekFrom::Start(offset + there)).map_err(|e| Problem::io(&e))?;
        }
        Ok(there)
    };
    walk_with(file, Some(len), &mut seek)
}

/// [`walk`] over a gzip stream, read through (it cannot seek); the inflated file may not exceed
/// `limit` bytes, as cfitsio inflates it whole in memory.
pub fn walk_gzip<R: Read>(stream: &mut R, limit: u64) -> Result<Vec<Hdu>, Problem> {
    let mut read_over = |s: &mut R, offset: u64, needed: u64, wanted: u64| {
        if offset.saturating_add(needed) > limit {
            return Err(Problem::too_large(format!(
                "the gzip file inflates to more than {} (the read's memory budget)",
                super::budget::human(limit)
            )));
        }
        std::io::copy(&mut s.by_ref().take(wanted), &mut std::io::sink()).map_err(|e| Problem::io(&e))
    };
    walk_with(stream, None, &mut read_over)
}

/// `skip(reader, offset, needed, wanted)`: see [`walk_with`].
type Skip<'a, R> = dyn FnMut(&mut R, u64, u64, u64) -> Result<u64, Problem> + 'a;

/// The walk over a file of `len` bytes (None: a stream, read to its end). `skip(reader, offset,
/// needed, wanted)` moves over up to `wanted` bytes from `offset`, of which the walk needs the
/// first `needed` (the data; the rest is padding), and returns how many were there.
fn walk_with<R: Read>(reader: &mut R, len: Option<u64>, skip: &mut Skip<'_, R>) -> Result<Vec<Hdu>, Problem> {
    let mut hdus = Vec::new();
    let mut offset = 0u64;
    loop {
        if !hdus.is_empty() && len == Some(offset) {
            return Ok(hdus); // the file ends with the last HDU: nothing more to read
        }
        let Some(header) = read_header(reader, hdus.len())? else {
            if hdus.is_empty() {
                return Err(if offset == 0 { "the file is empty" } else { "no FITS header" }.into());
            }
            return Ok(hdus);
        };
        offset += header.bytes;
        let index = hdus.len();
        let (mut hdu, data_bytes) = describe(index, &header.cards)?;
        (hdu.keys, hdu.leading, hdu.standard) = (header.keys, header.leading, header.standard);
        hdu.data_offset = offset;
        // The data and its padding to a whole block: all of the data must be there for the
        // structure to make sense; a cut padding is kept in `missing`, for the readers to refuse.
        let padded = data_bytes.div_ceil(BLOCK).checked_mul(BLOCK).ok_or("a data size overflows")?;
        let there = skip(reader, offset, data_bytes, padded)?;
        if there < data_bytes {
            return Err(Problem::invalid(format!(
                "truncated: HDU {index} declares {} of data but the file ends before it does",
                super::budget::human(data_bytes)
            )));
        }
        hdu.missing = padded - there;
        offset += there;
        hdus.push(hdu);
    }
}

/// One header as the walk reads it.
struct Header {
    /// The structural keywords (values as text).
    cards: BTreeMap<String, String>,
    /// Its [`READING_KEYS`].
    keys: BTreeMap<&'static str, Card>,
    /// The first [`LEADING`] card names.
    leading: Vec<String>,
    /// Every card is printable ASCII with a standard keyword (see [`Hdu::standard`]).
    standard: bool,
    bytes: u64,
}

/// One header; None at a clean end of file. Errors: not FITS, no END.
fn read_header<R: Read>(reader: &mut R, index: usize) -> Result<Option<Header>, Problem> {
    let mut cards = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut leading = Vec::new();
    let mut standard = true;
    let mut block = [0u8; BLOCK as usize];
    let mut bytes = 0u64;
    loop {
        let got = read_full(reader, &mut block).map_err(|e| Problem::io(&e))?;
        if got == 0 && bytes == 0 {
            return Ok(None);
        }
        if got < block.len() {
            // Trailing bytes that are not a header (zero padding, junk) after the last HDU.
            if bytes == 0 && index > 0 {
                return Ok(None);
            }
            return Err(if index == 0 && bytes == 0 {
                Problem::invalid(format!("not a FITS file ({got} bytes, a FITS header takes 2,880)"))
            } else {
                Problem::invalid(format!("header of HDU {index} is truncated (no END card)"))
            });
        }
        for (i, card) in block.chunks(CARD).enumerate() {
            let key = String::from_utf8_lossy(&card[..8]).trim_end().to_string();
            if bytes == 0 && i == 0 {
                let expected = if index == 0 { "SIMPLE" } else { "XTENSION" };
                if key != expected {
                    if index > 0 && key.trim().is_empty() && card.iter().all(|&b| b == 0 || b == b' ') {
                        return Ok(None); // zero or blank padding after the last HDU
                    }
                    return Err(if index == 0 {
                        "not a FITS file (it does not start with SIMPLE = T)".into()
                    } else {
                        Problem::invalid(format!("HDU {index} does not start with XTENSION"))
                    });
                }
            }
            if key == "END" {
                return Ok(Some(Header { cards, keys, leading, standard, bytes: bytes + BLOCK }));
            }
            standard = standard && is_standard(card);
            if leading.len() < LEADING {
                leading.push(key.clone());
            }
            if let Some(&wanted) = READING_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&key)) {
                let clear = key == wanted && &card[8..10] == b"= " && !keys.contains_key(wanted);
                let field = clear.then(|| String::from_utf8_lossy(&card[10..]).into_owned());
                keys.insert(wanted, Card(field));
            }
            if is_structural(&key) {
                if &card[8..10] == b"= " {
                    cards.insert(key, value(&card[10..]));
                } else {
                    standard = false; // a mandatory keyword without a value
                }
            }
        }
        bytes += BLOCK;
    }
}

/// A card of printable ASCII whose keyword is standard (FITS 4.0 §4.1.2.1).
fn is_standard(card: &[u8]) -> bool {
    let name = &card[..8];
    let length = name.iter().position(|&b| b == b' ').unwrap_or(8);
    card.iter().all(|b| (b' '..=b'~').contains(b))
        && name[..length].iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name[length..].iter().all(|&b| b == b' ')
}

/// Reads until `buf` is full or the stream ends; the count read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn is_structural(key: &str) -> bool {
    matches!(key, "SIMPLE" | "XTENSION" | "BITPIX" | "NAXIS" | "PCOUNT" | "GCOUNT" | "GROUPS" | "TFIELDS" | "EXTNAME")
        || ["NAXIS", "TTYPE", "TFORM"].iter().any(|p| key.strip_prefix(p).is_some_and(is_index))
}

fn is_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A card's value: a quoted string ('' is a quote) or the text before a `/` comment.
fn value(field: &[u8]) -> String {
    let text = String::from_utf8_lossy(field);
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                break;
            }
            out.push(c);
        }
        return out.trim_end().to_string();
    }
    trimmed.split('/').next().unwrap_or("").trim().to_string()
}

fn integer(cards: &BTreeMap<String, String>, key: &str, default: Option<i64>) -> Result<i64, Problem> {
    match cards.get(key) {
        Some(v) => v.parse::<i64>().map_err(|_| Problem::invalid(format!("keyword {key} = '{v}' is not an integer"))),
        None => default.ok_or_else(|| Problem::invalid(format!("the mandatory keyword {key} is missing"))),
    }
}

fn count(cards: &BTreeMap<String, String>, key: &str, default: Option<i64>) -> Result<u64, Problem> {
    let v = integer(cards, key, default)?;
    u64::try_from(v).map_err(|_| Problem::invalid(format!("keyword {key} = {v} is negative")))
}

/// The HDU and its data size in bytes, from the standard's formula
/// |BITPIX| × GCOUNT × (PCOUNT + NAXIS1 × … × NAXISn) / 8, every step checked.
fn describe(index: usize, cards: &BTreeMap<String, String>) -> Result<(Hdu, u64), Problem> {
    let at = |p: Problem| Problem { text: format!("HDU {index}: {}", p.text), ..p };
    let bitpix = integer(cards, "BITPIX", None).map_err(at)?;
    if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
        return Err(at(Problem::invalid(format!("BITPIX = {bitpix} is not a FITS data type"))));
    }
    let naxis = count(cards, "NAXIS", None).map_err(at)?;
    if naxis > MAX_INDEXED {
        return Err(at(Problem::invalid(format!("NAXIS = {naxis} exceeds the standard's 999"))));
    }
    let shape = (1..=naxis).map(|i| count(cards, &format!("NAXIS{i}"), None)).collect::<Result<Vec<u64>, _>>();
    let shape = shape.map_err(at)?;
    let xtension = cards.get("XTENSION").map(|s| s.trim().to_ascii_uppercase());
    let groups = xtension.is_none() && cards.get("GROUPS").is_some_and(|g| g == "T") && shape.first() == Some(&0);
    let pcount = count(cards, "PCOUNT", Some(0)).map_err(at)?;
    let gcount = count(cards, "GCOUNT", Some(1)).map_err(at)?;
    let axes = if groups { &shape[1..] } else { &shape[..] };
    let too_big = || at(Problem::invalid(format!("the declared shape {shape:?} holds more data than any file can")));
    let elements =
        if naxis == 0 { 0 } else { axes.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n)).ok_or_else(too_big)? };
    let bits = elements
        .checked_add(pcount)
        .and_then(|e| e.checked_mul(gcount))
        .and_then(|e| e.checked_mul(bitpix.unsigned_abs()))
        .ok_or_else(too_big)?;
    let data_bytes = bits / 8;
    let name = cards.get("EXTNAME").map(|s| s.trim().to_ascii_uppercase()).unwrap_or_default();
    let body = match xtension.as_deref() {
        None if groups => Body::Skipped { why: "random groups".into() },
        None | Some("IMAGE") => Body::Image { bitpix, shape: if elements == 0 { Vec::new() } else { shape } },
        Some("BINTABLE") => table(cards, &shape).map_err(at)?,
        Some(other) => Body::Skipped { why: format!("a {other} extension") },
    };
    let (keys, leading) = (BTreeMap::new(), Vec::new());
    Ok((Hdu { index, data_offset: 0, name, body, keys, leading, missing: 0, standard: true }, data_bytes))
}

/// A binary table's columns; their widths must fit the declared row (NAXIS1).
fn table(cards: &BTreeMap<String, String>, shape: &[u64]) -> Result<Body, Problem> {
    let [row_bytes, rows] = shape else {
        return Err(Problem::invalid(format!("a binary table needs NAXIS = 2, not {}", shape.len())));
    };
    let fields = count(cards, "TFIELDS", None)?;
    if fields > MAX_INDEXED {
        return Err(Problem::invalid(format!("TFIELDS = {fields} exceeds the standard's 999")));
    }
    let mut columns = Vec::new();
    let mut width = 0u64;
    let mut unsupported = Vec::new();
    for i in 1..=fields {
        let form = cards.get(&format!("TFORM{i}")).map(|s| s.trim().to_string()).unwrap_or_default();
        let name = cards.get(&format!("TTYPE{i}")).map(|s| s.trim().to_string()).unwrap_or_default();
        let digits: String = form.chars().take_while(char::is_ascii_digit).collect();
        let repeat = if digits.is_empty() { Ok(1) } else { digits.parse::<u64>() };
        let code = form[digits.len()..].chars().next();
        let (Ok(repeat), Some(code)) = (repeat, code) else {
            return Err(Problem::invalid(format!("column {i} has a malformed TFORM '{form}'")));
        };
        // Bytes per element; fitsio describes these codes (X counts bits).
        let element = match code {
            'L' | 'B' | 'A' => Some(1),
            'I' => Some(2),
            'J' | 'E' => Some(4),
            'K' | 'D' => Some(8),
            _ => None,
        };
        let bytes = match (code, element) {
            ('X', _) => repeat.div_ceil(8),
            (_, Some(e)) => repeat
                .checked_mul(e)
                .ok_or_else(|| Problem::invalid(format!("column {i}: TFORM '{form}' overflows")))?,
            // P/Q descriptors, complex C/M: sized for the row check, but not readable here.
            ('P' | 'C', _) => repeat.saturating_mul(8),
            ('Q' | 'M', _) => repeat.saturating_mul(16),
            _ => return Err(Problem::invalid(format!("column {i} has an unknown TFORM type '{form}'"))),
        };
        if code != 'X' && element.is_none() {
            unsupported.push(format!("{name} ({form})"));
        }
        columns.push(Column { name, code, repeat, offset: width });
        width = width.checked_add(bytes).ok_or("column widths overflow")?;
    }
    if width > *row_bytes {
        return Err(Problem::invalid(format!(
            "its columns take {width} bytes per row but NAXIS1 declares rows of {row_bytes} bytes"
        )));
    }
    if !unsupported.is_empty() {
        return Ok(Body::Skipped {
            why: format!("a binary table with columns of unsupported types: {}", unsupported.join(", ")),
        });
    }
    Ok(Body::Table { rows: *rows, row_bytes: *row_bytes, columns })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header of `cards` (each padded to 80 characters), END, padded to a block.
    pub(crate) fn header(cards: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for card in cards.iter().chain(std::iter::once(&"END")) {
            out.extend(format!("{card:<80}").bytes());
        }
        out.resize(out.len().div_ceil(2880) * 2880, b' ');
        out
    }

    fn walk_bytes(bytes: &[u8]) -> Result<Vec<Hdu>, Problem> {
        walk(&mut std::io::Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn a_header_declaring_2_to_the_40_pixels_is_refused_without_reading_or_allocating() {
        let lie =
            header(&["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 2", "NAXIS1  = 1099511627776", "NAXIS2  = 16777216"]);
        assert_eq!(lie.len(), 2880);
        let e = walk_bytes(&lie).unwrap_err();
        assert!(e.text.contains("holds more data than any file can"), "{}", e.text);
        let one_d = header(&["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 1", "NAXIS1  = 1099511627776"]);
        let e = walk_bytes(&one_d).unwrap_err();
        assert!(e.text.contains("truncated") && e.text.contains("4.0 TiB"), "{}", e.text);
    }

    #[test]
    fn tables_with_lying_rows_or_repeat_counts_are_refused() {
        let table = |naxis1: &str, naxis2: &str, tform: &str| {
            let mut bytes = header(&["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0"]);
            bytes.extend(header(&[
                "XTENSION= 'BINTABLE'",
                "BITPIX  = 8",
                "NAXIS   = 2",
                &format!("NAXIS1  = {naxis1}"),
                &format!("NAXIS2  = {naxis2}"),
                "PCOUNT  = 0",
                "GCOUNT  = 1",
                "TFIELDS = 1",
                "TTYPE1  = 'FLUX'",
                &format!("TFORM1  = '{tform}'"),
            ]));
            bytes.extend(vec![0u8; 2880]);
            walk_bytes(&bytes)
        };
        let ok = table("4", "3", "E").unwrap();
        let flux = Column { name: "FLUX".into(), code: 'E', repeat: 1, offset: 0 };
        assert_eq!(ok[1].body, Body::Table { rows: 3, row_bytes: 4, columns: vec![flux] });
        assert_eq!(ok[1].data_offset, 5760);
        assert!(table("4", "100000000", "E").unwrap_err().text.contains("truncated"));
        let e = table("4", "3", "1000000000E").unwrap_err();
        assert!(e.text.contains("4000000000 bytes per row but NAXIS1 declares rows of 4"), "{}", e.text);
        assert!(table("4", "3", "99999999999999999999E").unwrap_err().text.contains("malformed TFORM"));
        assert!(table("4", "3", "").unwrap_err().text.contains("malformed TFORM"));
        assert!(matches!(table("8", "3", "1PE(10)").unwrap()[1].body, Body::Skipped { .. }), "never opened by fitsio");
    }

    #[test]
    fn empty_junk_and_headerless_files_are_refused() {
        assert_eq!(walk_bytes(b"").unwrap_err().text, "the file is empty");
        assert!(walk_bytes(b"SIMPLE  = garbage").unwrap_err().text.contains("not a FITS file"));
        assert!(walk_bytes(&[b'x'; 2880]).unwrap_err().text.contains("SIMPLE"));
        let mut no_end = header(&["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0"]);
        no_end.truncate(80 * 3);
        no_end.resize(2880, b' ');
        assert!(walk_bytes(&no_end).unwrap_err().text.contains("no END card"));
    }
}
