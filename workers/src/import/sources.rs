//! Where the list of spectra comes from: a VOTable (uploaded, remote, or an SSAP query result)
//! with an access-reference column, or an HTTP directory tree (index pages).

use std::collections::HashSet;

use crate::votable::{self, Value};

/// One file to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub url: String,
    /// Path relative to the import folder ('/'-separated, each part sanitised).
    pub name: String,
    /// The declared MIME type, when the list has one (`…;content=datalink` means follow DataLink).
    pub format: Option<String>,
}

/// Columns tried, in order, when the user does not name the access-reference column.
const ACCESS_KEYS: &[&str] = &[
    "ssa:Access.Reference",
    "obscore:Access.Reference",
    "Access.Reference",
    "meta.ref.url",
    "VOX:Image_AccessReference",
    "access_url",
    "accref",
    "url",
];
const FORMAT_KEYS: &[&str] = &[
    "ssa:Access.Format",
    "obscore:Access.Format",
    "meta.code.mime",
    "VOX:Image_Format",
    "access_format",
    "content_type",
    "format",
];

/// A file-system-safe name part: ASCII letters, digits, `.`, `-`, `_`; nothing hidden or empty.
pub fn sanitize(part: &str) -> String {
    let mut s: String = part
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(150)
        .collect();
    while s.starts_with('.') {
        s.replace_range(0..1, "_");
    }
    if s.is_empty() { "file".into() } else { s }
}

/// A short stable hash (FNV-1a) to tell apart URLs that end in the same name.
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

/// The file name a URL gets: its last path segment, plus a hash of the URL when a query string
/// (`getSpectrum?id=42`) would make names collide.
pub fn name_for(url: &str) -> String {
    let no_fragment = url.split('#').next().unwrap_or(url);
    let (path, query) = no_fragment.split_once('?').unwrap_or((no_fragment, ""));
    let after_host = path.split_once("://").map(|(_, r)| r).unwrap_or(path);
    let segment =
        after_host.split_once('/').map(|(_, p)| p).unwrap_or("").rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let base = sanitize(&percent_decode(segment));
    if query.is_empty() && !segment.is_empty() { base } else { format!("{base}-{}", short_hash(url)) }
}

pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Unreserved characters (RFC 3986) stay, everything else is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// The SSAP queryData URL for a service base URL and the constraints given.
pub fn ssap_url(service: &str, constraints: &[(&str, Option<String>)]) -> String {
    let mut url = service.trim().to_string();
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str("REQUEST=queryData");
    for (key, value) in constraints {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            url.push_str(&format!("&{key}={}", encode(v)));
        }
    }
    url
}

/// Rejected rows are reported, not fatal: (row number, reason).
pub type Skipped = Vec<(String, String)>;

/// The spectra a VOTable lists. `column` names the access-reference column by UCD, utype or
/// name; without it the usual SSAP/ObsCore/TOPCAT columns are tried. `name_column` optionally
/// gives file names.
pub fn from_votable(
    bytes: &[u8],
    column: Option<&str>,
    name_column: Option<&str>,
) -> Result<(Vec<Item>, Skipped), String> {
    let doc = votable::read(bytes).map_err(|e| e.to_string())?;
    if let Some(status) = doc.info("QUERY_STATUS")
        && status.eq_ignore_ascii_case("ERROR")
    {
        let message = doc.infos.iter().find(|(n, _)| n == "QUERY_STATUS").map(|(_, v)| v.clone()).unwrap_or_default();
        return Err(format!("the service reported QUERY_STATUS=ERROR: {message}"));
    }
    let table = doc.tables.first().ok_or("the VOTable has no TABLE")?;
    let described = || {
        table
            .fields
            .iter()
            .map(|f| f.ucd.clone().or(f.utype.clone()).map_or(f.name.clone(), |k| format!("{} ({k})", f.name)))
    };
    let access = match column {
        Some(key) => table.column(key).ok_or_else(|| {
            format!(
                "no column matches {key:?} by UCD, utype or name; columns: {}",
                described().collect::<Vec<_>>().join(", ")
            )
        })?,
        None => ACCESS_KEYS.iter().find_map(|k| table.column(k)).ok_or_else(|| {
            format!(
                "no access-reference column found (tried {}); name one with `column`; columns: {}",
                ACCESS_KEYS.join(", "),
                described().collect::<Vec<_>>().join(", ")
            )
        })?,
    };
    let names = match name_column {
        Some(key) => Some(table.column(key).ok_or_else(|| format!("no column matches name_column {key:?}"))?),
        None => None,
    };
    let format = FORMAT_KEYS.iter().find_map(|k| table.column(k));
    let text = |row: &[Value], i: usize| match &row[i] {
        Value::Null => None,
        v => Some(v.to_text().trim().to_string()).filter(|s| !s.is_empty()),
    };
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for (r, row) in table.rows.iter().enumerate() {
        let Some(url) = text(row, access) else {
            skipped.push((format!("row {}", r + 1), "empty access reference".into()));
            continue;
        };
        let mut name = names.and_then(|i| text(row, i)).map(|n| sanitize(&n)).unwrap_or_else(|| name_for(&url));
        // Two rows, one name: keep both files.
        if !seen.insert(name.clone()) {
            name = format!("{}-{}", r + 1, name);
            seen.insert(name.clone());
        }
        items.push(Item { url, name, format: format.and_then(|i| text(row, i)) });
    }
    Ok((items, skipped))
}

/// Resolves an `href` against the page URL it appeared on (RFC 3986, the common cases) and
/// [normalises](normalise) the result; `None` for other schemes and for what cannot be resolved.
pub fn join(base: &str, href: &str) -> Option<String> {
    let href = href.trim();
    let lower = href.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return normalise(href);
    }
    if lower.contains(':') && !lower.starts_with('/') && lower.split(':').next().is_some_and(|s| !s.contains('/')) {
        return None; // mailto:, javascript:, ftp:, …
    }
    let (scheme, rest) = base.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    let base_path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let absolute = if let Some(net) = href.strip_prefix("//") {
        format!("{scheme}://{net}")
    } else if href.starts_with('/') {
        format!("{origin}{href}")
    } else {
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{origin}{}{href}", if dir.is_empty() { "/" } else { dir })
    };
    normalise(&absolute)
}

/// `scheme://host[:port]/path[?query]` with the scheme and host in lower case and the dot
/// segments removed — `.` and `..`, also percent-encoded (`%2e%2e`), which servers decode —
/// so that "is it below the start?" is a plain prefix test. `None` for URLs with a backslash
/// (some servers take it for `/`) or user info (`http://h@other/`).
pub fn normalise(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if url.contains('\\') || authority.contains('@') || authority.is_empty() {
        return None;
    }
    let after = &rest[authority_end..];
    let (path, tail) = match after.find(['?', '#']) {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let dots = |seg: &str| {
        let decoded = seg.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." { Some(decoded.len()) } else { None }
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut parts: Vec<&str> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match dots(seg) {
            Some(2) => {
                parts.pop();
            }
            Some(_) => {}
            None => parts.push(seg),
        }
        if last && dots(seg).is_some() {
            parts.push("");
        }
    }
    Some(format!("{}://{}/{}{tail}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase(), parts.join("/")))
}

/// The `href` values of an HTML page (index pages of Apache, nginx, Python's http.server, …).
pub fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href") {
        let start = from + i + 4;
        from = start;
        let rest = &html[start..];
        let rest_trim = rest.trim_start();
        let Some(after_eq) = rest_trim.strip_prefix('=') else { continue };
        let value = after_eq.trim_start();
        let link = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or(""),
        };
        out.push(link.replace("&amp;", "&"));
    }
    out
}
