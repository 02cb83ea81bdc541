//! What kind of file a URL or a path holds, decided from its first bytes (and, for plain text,
//! the `Content-Type` it was served with), never from its name: a vocloud `?row=` link ends in
//! `.fits` and serves a VOTable; TOPCAT's tables arrive as `t4.vot` whatever they are.
//!
//! Used when sending (which MType, which `Access.Format`), when receiving (is this what the MType
//! says, which extension to store it with), and by the pages' signed links (the format the
//! browser passes on).

use std::io::Read;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

/// How many leading bytes [`sniff`] needs at most: an XML prolog with comments before the root
/// element fits easily.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The kinds of file SAMP load messages carry, as far as vocloud tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// FITS (`SIMPLE  =` in the first card).
    Fits,
    /// An XML document whose root element is `VOTABLE`.
    VoTable,
    /// Comma-separated text (a spectrum per row or per file, as vocloud's readers take it).
    Csv,
    /// HTML: a login or error page where data was expected.
    Html,
    /// gzip-compressed data.
    Gzip,
    /// Anything else (other XML, binary, empty).
    Other,
}

impl Kind {
    /// The MIME type SAMP messages and HTTP use for it.
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Fits => "application/fits",
            Kind::VoTable => "application/x-votable+xml",
            Kind::Csv => "text/csv",
            Kind::Html => "text/html",
            Kind::Gzip => "application/gzip",
            Kind::Other => "application/octet-stream",
        }
    }

    /// What a message says it is, in words ("a VOTable").
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Fits => "FITS",
            Kind::VoTable => "a VOTable",
            Kind::Csv => "CSV text",
            Kind::Html => "an HTML page",
            Kind::Gzip => "gzip-compressed data",
            Kind::Other => "neither FITS, a VOTable nor CSV",
        }
    }

    /// The extension a stored file gets, and the ones that already say the same (vocloud's readers
    /// choose by extension).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::Fits => &["fits", "fit", "fts"],
            Kind::VoTable => &["vot", "votable", "xml"],
            Kind::Csv => &["csv", "txt", "dat"],
            Kind::Html => &["html"],
            Kind::Gzip => &["gz"],
            Kind::Other => &["bin"],
        }
    }

    /// The `table.load.*` MType that carries it, if it is a table format.
    pub fn table_mtype(self) -> Option<&'static str> {
        match self {
            Kind::Fits => Some("table.load.fits"),
            Kind::VoTable => Some("table.load.votable"),
            _ => None,
        }
    }

    /// Whether spectrum viewers (and vocloud's own reader) take it as a spectrum.
    pub fn is_spectrum_format(self) -> bool {
        matches!(self, Kind::Fits | Kind::VoTable | Kind::Csv)
    }

    /// The kind a MIME type (an SSA `Access.Format`, a `Content-Type`) names, if it names one of
    /// ours: `application/fits`, `image/fits`, `application/x-votable+xml`, `text/xml;
    /// content=x-votable`, `text/csv`…
    pub fn from_mime(mime: &str) -> Option<Kind> {
        let lower = mime.to_ascii_lowercase();
        let essence = lower.split(';').next().unwrap_or("").trim();
        match essence {
            "application/fits" | "image/fits" | "application/x-fits" | "spectrum/fits" | "timeseries/fits" => {
                Some(Kind::Fits)
            }
            "application/x-votable+xml" | "application/votable+xml" | "text/x-votable+xml" => Some(Kind::VoTable),
            "text/xml" | "application/xml" if lower.contains("votable") => Some(Kind::VoTable),
            "text/csv" | "application/csv" => Some(Kind::Csv),
            "text/html" | "application/xhtml+xml" => Some(Kind::Html),
            "application/gzip" | "application/x-gzip" => Some(Kind::Gzip),
            _ => None,
        }
    }
}

/// The kind of a file from its first bytes (up to [`SNIFF_BYTES`]; fewer when the file is
/// shorter). `content_type` (an HTTP header) only decides between CSV and other text, which
/// bytes alone cannot.
pub fn sniff(prefix: &[u8], content_type: Option<&str>) -> Kind {
    if prefix.starts_with(b"SIMPLE  =") {
        return Kind::Fits;
    }
    if prefix.starts_with(&[0x1f, 0x8b]) {
        return Kind::Gzip;
    }
    let text = prefix.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(prefix);
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
    if text.get(start) == Some(&b'<') {
        return xml_root(&text[start..]);
    }
    if looks_like_csv(text) || (is_text(text) && content_type.and_then(Kind::from_mime) == Some(Kind::Csv)) {
        return Kind::Csv;
    }
    Kind::Other
}

/// The kind of a local file, from its first bytes.
pub fn of_file(path: &Path) -> std::io::Result<Kind> {
    let mut prefix = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)?.take(SNIFF_BYTES as u64).read_to_end(&mut prefix)?;
    Ok(sniff(&prefix, None))
}

/// VOTable or HTML by the root element (or an HTML doctype); anything else is `Other`.
fn xml_root(xml: &[u8]) -> Kind {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    // A prolog is short; the bound keeps a prefix of endless comments from looping long.
    for _ in 0..1000 {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let name = e.local_name();
                let name = name.as_ref();
                if name.eq_ignore_ascii_case(b"VOTABLE") {
                    return Kind::VoTable;
                }
                return if name.eq_ignore_ascii_case(b"html") { Kind::Html } else { Kind::Other };
            }
            Ok(Event::DocType(d)) if d.trim_ascii_start().to_ascii_lowercase().starts_with(b"html") => {
                return Kind::Html;
            }
            Ok(Event::Eof) | Err(_) => return Kind::Other,
            Ok(_) => {}
        }
        buf.clear();
    }
    Kind::Other
}

/// UTF-8 text without NUL bytes (a multi-byte character cut at the end of the prefix is fine).
fn is_text(bytes: &[u8]) -> bool {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    valid && !bytes.contains(&0)
}

/// Text whose first line that is not a `#` comment has a comma, and whose next line has as many.
fn looks_like_csv(bytes: &[u8]) -> bool {
    if bytes.is_empty() || !is_text(bytes) {
        return false;
    }
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = lines.next() else { return false };
    let commas = first.matches(',').count();
    commas > 0 && lines.next().is_none_or(|next| next.matches(',').count() == commas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_bytes() {
        let fits = format!("{:<80}", "SIMPLE  =                    T");
        assert_eq!(sniff(fits.as_bytes(), Some("text/html")), Kind::Fits);
        let vot = "\u{feff}<?xml version=\"1.0\"?>\n<!-- made by TOPCAT -->\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\"><RESOURCE>";
        assert_eq!(sniff(vot.as_bytes(), Some("application/octet-stream")), Kind::VoTable);
        assert_eq!(sniff(b"<v:VOTABLE xmlns:v=\"x\"/>", None), Kind::VoTable);
        assert_eq!(sniff(b"<!DOCTYPE html>\n<html><body>log in", None), Kind::Html);
        assert_eq!(sniff(b"<html><body>", None), Kind::Html);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg/>", None), Kind::Other);
        assert_eq!(sniff(b"\x1f\x8b\x08\x00", None), Kind::Gzip);
        assert_eq!(sniff(b"# spectrum\nwavelength,flux\n6500,1.0\n", None), Kind::Csv);
        assert_eq!(sniff(b"wavelength flux\n6500 1.0\n", Some("text/csv")), Kind::Csv);
        assert_eq!(sniff(b"wavelength flux\n6500 1.0\n", None), Kind::Other);
        assert_eq!(sniff(b"", None), Kind::Other);
        assert_eq!(sniff(b"\x00\x01,\x02", Some("text/csv")), Kind::Other);
        // A prefix cut inside the root tag is not a VOTable yet.
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><VOTA", None), Kind::Other);
    }

    #[test]
    fn mime_types_name_kinds() {
        assert_eq!(Kind::from_mime("application/x-votable+xml; charset=utf-8"), Some(Kind::VoTable));
        assert_eq!(Kind::from_mime("text/xml;content=x-votable"), Some(Kind::VoTable));
        assert_eq!(Kind::from_mime("text/xml"), None);
        assert_eq!(Kind::from_mime("image/fits"), Some(Kind::Fits));
        assert_eq!(Kind::from_mime("TEXT/CSV"), Some(Kind::Csv));
        for kind in [Kind::Fits, Kind::VoTable, Kind::Csv] {
            assert_eq!(Kind::from_mime(kind.mime()), Some(kind));
        }
    }
}
