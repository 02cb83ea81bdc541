//! What a file looks like on its page, by type: FITS headers (plus a quick plot, drawn by the
//! plot renderer as a PNG), VOTables and CSV files as paged tables, text, images. Previews never
//! run user content: text and cell values are escaped by the templates, images are `<img>`
//! elements pointing at the inert file route, and nothing else is embedded.
//!
//! Every reader is bounded (bytes read, rows and cells shown) so that a huge or hostile file
//! costs a bounded amount of time and memory; what does not fit is said on the page.

use std::io::Read;
use std::path::Path;

use super::fits_header::{self, Header};

/// Rows of a table shown per page.
pub const ROWS: usize = 50;
/// Columns of a table shown at most.
const MAX_COLUMNS: usize = 60;
/// Characters of a cell shown at most (arrays of a spectrum are long).
const MAX_CELL: usize = 120;
/// Bytes of text shown at most.
const MAX_TEXT: usize = 256 * 1024;
/// Largest VOTable parsed for a preview (it is parsed whole).
const MAX_VOTABLE: u64 = 64 << 20;

/// A page of a table.
pub struct TableView {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Index of the first row shown.
    pub offset: usize,
    /// Rows in the table, when known (a CSV file is not read to its end).
    pub total: Option<usize>,
    pub has_more: bool,
    pub hidden_columns: usize,
}

/// What the preview page shows.
#[derive(Default)]
pub struct Preview {
    pub fits: Vec<Header>,
    pub table: Option<TableView>,
    pub text: Option<String>,
    pub image: bool,
    /// The file holds spectra the plot page reads.
    pub plottable: bool,
    /// Why something is not shown (too large, unreadable), in plain words.
    pub note: String,
}

/// How a file name's extension says to preview it.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Kind {
    Fits,
    Votable,
    Csv,
    Text,
    Image,
    Other,
}

pub fn kind_of(name: &str) -> Kind {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "fits" | "fit" | "fts" => Kind::Fits,
        "vot" | "votable" => Kind::Votable,
        "csv" | "tsv" => Kind::Csv,
        "txt" | "log" | "json" | "md" | "dat" | "xml" | "ini" | "cfg" | "toml" | "yaml" | "yml" | "py" | "sh" => {
            Kind::Text
        }
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "svg" => Kind::Image,
        _ => Kind::Other,
    }
}

/// Whether the plot page can read this file (or a folder of such files).
pub fn plottable(name: &str) -> bool {
    matches!(kind_of(name), Kind::Fits | Kind::Votable | Kind::Csv)
}

fn cell(text: String) -> String {
    if text.chars().count() > MAX_CELL {
        let mut cut: String = text.chars().take(MAX_CELL).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// Builds the preview of `path` (named `name`), showing table rows from `offset`. Blocking.
pub fn build(path: &Path, name: &str, offset: usize) -> Preview {
    let kind = kind_of(name);
    let mut preview = Preview { plottable: plottable(name), image: kind == Kind::Image, ..Preview::default() };
    let result = match kind {
        Kind::Fits => fits(path).map(|h| preview.fits = h),
        Kind::Votable => votable(path, offset).map(|t| preview.table = Some(t)),
        Kind::Csv => csv_table(path, offset).map(|t| preview.table = Some(t)),
        Kind::Text | Kind::Other => text(path).map(|t| match t {
            Some(t) => preview.text = Some(t),
            None => preview.note = "This file is not text; download it to open it.".into(),
        }),
        Kind::Image => Ok(()),
    };
    if let Err(e) = result {
        preview.note = e;
    }
    preview
}

fn fits(path: &Path) -> Result<Vec<Header>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    fits_header::read(&mut std::io::BufReader::new(&mut file), len)
}

fn votable(path: &Path, offset: usize) -> Result<TableView, String> {
    let len = std::fs::metadata(path).map(|m| m.len()).map_err(|e| e.to_string())?;
    if len > MAX_VOTABLE {
        return Err(format!(
            "This VOTable has {} MiB; previews read at most {} MiB. Download it or plot it.",
            len >> 20,
            MAX_VOTABLE >> 20
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let limits = vocloud_workers::votable::Limits { max_bytes: MAX_VOTABLE as usize, ..Default::default() };
    let doc =
        vocloud_workers::votable::read_with(&bytes, limits).map_err(|e| format!("Cannot read this VOTable: {e}"))?;
    let table = doc.tables.into_iter().next().ok_or("This VOTable holds no table.")?;
    let columns: Vec<String> = table
        .fields
        .iter()
        .take(MAX_COLUMNS)
        .map(|f| match &f.unit {
            Some(unit) if !unit.is_empty() => format!("{} [{unit}]", f.name),
            _ => f.name.clone(),
        })
        .collect();
    let total = table.rows.len();
    let offset = offset.min(total);
    let rows = table.rows[offset..total.min(offset + ROWS)]
        .iter()
        .map(|r| r.iter().take(MAX_COLUMNS).map(|v| cell(v.to_text())).collect())
        .collect();
    Ok(TableView {
        hidden_columns: table.fields.len().saturating_sub(MAX_COLUMNS),
        columns,
        rows,
        offset,
        total: Some(total),
        has_more: offset + ROWS < total,
    })
}

fn csv_table(path: &Path, offset: usize) -> Result<TableView, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    let delimiter = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv")) { b'\t' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(file);
    let headers = reader.headers().map_err(|e| format!("Cannot read this CSV file: {e}"))?.clone();
    let mut rows = Vec::new();
    let mut has_more = false;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("Cannot read this CSV file: {e}"))?;
        if i < offset {
            continue;
        }
        if rows.len() == ROWS {
            has_more = true;
            break;
        }
        rows.push(record.iter().take(MAX_COLUMNS).map(|c| cell(c.to_string())).collect());
    }
    Ok(TableView {
        hidden_columns: headers.len().saturating_sub(MAX_COLUMNS),
        columns: headers.iter().take(MAX_COLUMNS).map(str::to_string).collect(),
        rows,
        offset,
        total: None,
        has_more,
    })
}

/// The beginning of the file if it reads as UTF-8 text.
fn text(path: &Path) -> Result<Option<String>, String> {
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    file.take(MAX_TEXT as u64 + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let cut = bytes.len() > MAX_TEXT;
    bytes.truncate(MAX_TEXT);
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        // A multi-byte character cut at the end is still text.
        Err(e) if cut && e.valid_up_to() + 4 > bytes.len() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => return Ok(None),
    };
    if text.contains('\0') {
        return Ok(None);
    }
    Ok(Some(if cut { format!("{text}\n… (the preview shows the first {} KiB)", MAX_TEXT / 1024) } else { text }))
}
