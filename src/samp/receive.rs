//! What `samp listen` does with one load message: fetch the URL here on the desktop, check it is
//! the kind of file the MType names (from its first bytes), pick a name that is free in the
//! user's folder, and stream it into vocloud storage through the files API.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::content::{self, Kind};
use super::hub;
use super::xmlrpc::Value;

/// Longest stored name, in characters (storage allows 255 bytes).
const MAX_NAME_CHARS: usize = 100;

/// Whether `file:` URLs may be read for the message at hand (see `listen`'s policy).
pub enum FileUrls {
    Allowed,
    /// Refused, with the reason the sender is told.
    Refused(String),
}

/// The user's folder on the vocloud server that received files go to.
pub struct Inbox {
    master: String,
    token: String,
    folder: String,
    agent: ureq::Agent,
    /// Names being uploaded right now, so two messages arriving together never pick the same one.
    writing: Mutex<HashSet<String>>,
}

impl Inbox {
    pub fn new(master: &str, token: &str, folder: &str) -> anyhow::Result<Inbox> {
        if !(master.starts_with("http://") || master.starts_with("https://")) {
            bail!("--master must be the http(s) URL of the vocloud server");
        }
        let folder = folder.trim_matches('/').to_string();
        if folder.is_empty() || folder.split('/').any(|p| p.is_empty() || p.starts_with('.')) {
            bail!("--folder must be a folder of your storage, such as samp or inbox/topcat");
        }
        Ok(Inbox {
            master: master.trim_end_matches('/').to_string(),
            token: token.to_string(),
            folder,
            agent: ureq::Agent::config_builder().http_status_as_error(false).build().into(),
            writing: Mutex::new(HashSet::new()),
        })
    }

    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// Fails early on a wrong master or token rather than on the first message.
    pub fn check(&self) -> anyhow::Result<()> {
        let status = self
            .agent
            .get(&format!("{}/api/files/", self.master))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| anyhow!("reaching {}: {}", self.master, hub::transport(&e)))?
            .status();
        if status == 401 || status == 403 {
            bail!("{} refused the token (HTTP {status})", self.master);
        }
        Ok(())
    }

    /// Handles one load message; returns the storage path written.
    pub fn receive(&self, mtype: &str, params: Option<&Value>, file_urls: &FileUrls) -> anyhow::Result<String> {
        let params = params.ok_or_else(|| anyhow!("{mtype} without samp.params"))?;
        let url = params.get_str("url").ok_or_else(|| anyhow!("{mtype} without a url parameter"))?;
        let expected = expected_kinds(mtype, params)?;
        let (mut source, content_type) = open(url, file_urls)?;
        let mut prefix = Vec::with_capacity(content::SNIFF_BYTES);
        (&mut source).take(content::SNIFF_BYTES as u64).read_to_end(&mut prefix).context("reading")?;
        let kind = content::sniff(&prefix, content_type.as_deref());
        if !expected.contains(&kind) {
            let wanted = expected.iter().map(|k| k.describe()).collect::<Vec<_>>().join(" or ");
            bail!("{mtype} carries {wanted}, but this is {}", kind.describe());
        }
        let segment = url.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
        let label = params.get_str("name").map(str::trim).filter(|n| !n.is_empty());
        let wanted = stored_name(label.map(str::to_string).unwrap_or_else(|| hub::decode(segment)).as_str(), kind);
        let name = self.reserve(&wanted)?;
        let result = self.upload(&name, &mut prefix.as_slice().chain(source));
        self.writing.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        result
    }

    /// A name in the folder that neither exists nor is being written: `wanted`, else `stem-2.ext`,
    /// `stem-3.ext`…
    fn reserve(&self, wanted: &str) -> anyhow::Result<String> {
        let existing = self.existing_names()?;
        let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let (stem, ext) = wanted.rsplit_once('.').unwrap_or((wanted, ""));
        let free = (1..)
            .map(|n| match (n, ext) {
                (1, _) => wanted.to_string(),
                (_, "") => format!("{stem}-{n}"),
                _ => format!("{stem}-{n}.{ext}"),
            })
            .find(|n| !existing.contains(n) && !writing.contains(n))
            .unwrap_or_default();
        writing.insert(free.clone());
        Ok(free)
    }

    /// The names in the folder (none when it does not exist yet).
    fn existing_names(&self) -> anyhow::Result<HashSet<String>> {
        let url = format!("{}/api/files/{}", self.master, encode_path(&self.folder));
        let mut response = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| anyhow!("listing {}: {}", self.folder, hub::transport(&e)))?;
        if response.status() == 404 {
            return Ok(HashSet::new());
        }
        let text = response.body_mut().read_to_string().context("reading the folder listing")?;
        if !response.status().is_success() {
            bail!("listing {} on {}: HTTP {} {}", self.folder, self.master, response.status(), text.trim());
        }
        let listing: serde_json::Value = serde_json::from_str(&text).context("reading the folder listing")?;
        let Some(entries) = listing["entries"].as_array() else {
            bail!("{} on {} is a file, not a folder", self.folder, self.master);
        };
        Ok(entries.iter().filter_map(|e| e["name"].as_str().map(str::to_string)).collect())
    }

    /// Streams `body` into `folder/name` through the files API.
    fn upload(&self, name: &str, body: &mut dyn Read) -> anyhow::Result<String> {
        let path = format!("{}/{name}", self.folder);
        let url = format!("{}/api/files/{}", self.master, encode_path(&path));
        let mut response = self
            .agent
            .put(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| anyhow!("uploading to {url}: {}", hub::transport(&e)))?;
        if !response.status().is_success() {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            bail!("uploading to {url}: HTTP {} {}", response.status(), text.trim());
        }
        Ok(path)
    }
}

/// The kinds of file an MType carries: a spectrum's `meta` `Access.Format` narrows it.
fn expected_kinds(mtype: &str, params: &Value) -> anyhow::Result<Vec<Kind>> {
    Ok(match mtype {
        "table.load.votable" => vec![Kind::VoTable],
        "table.load.fits" => vec![Kind::Fits],
        _ => match params.get("meta").and_then(|m| m.get_str("Access.Format")) {
            Some(format) => match Kind::from_mime(format) {
                Some(kind) if kind.is_spectrum_format() => vec![kind],
                _ => bail!("spectra in {format} are not taken: vocloud reads FITS, VOTable and CSV spectra"),
            },
            None => vec![Kind::Fits, Kind::VoTable, Kind::Csv],
        },
    })
}

/// Opens a `file:` or http(s) URL; returns the reader and the HTTP Content-Type, if any.
fn open(url: &str, file_urls: &FileUrls) -> anyhow::Result<(Box<dyn Read + Send>, Option<String>)> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("file:") {
        if let FileUrls::Refused(why) = file_urls {
            bail!("{why}");
        }
        let path = hub::file_url_path(url)?;
        let meta = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            bail!("{} is not a file", path.display());
        }
        let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        return Ok((Box::new(file), None));
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        bail!("only file: and http(s): URLs are fetched, not {url}");
    }
    // No overall limit (tables can be large), but a server that stalls is given up on.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| anyhow!("fetching {url}: {}", hub::transport(&e)))?;
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    Ok((Box::new(response.into_body().into_reader()), content_type))
}

/// A safe storage name for `label` that ends in an extension saying `kind`: letters and digits
/// (any script), `-`, `_` and `.` stay, every other run of characters becomes one `_`; an
/// extension of another kind is replaced, a missing one added.
pub fn stored_name(label: &str, kind: Kind) -> String {
    let mut safe = String::new();
    for c in label.chars() {
        if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
            safe.push(c);
        } else if !safe.ends_with('_') {
            safe.push('_');
        }
    }
    let safe: String = safe.trim_matches(|c| c == '_' || c == '.').chars().take(MAX_NAME_CHARS).collect();
    let stem = match safe.rsplit_once('.') {
        Some((_, ext)) if kind.extensions().contains(&ext.to_ascii_lowercase().as_str()) => return safe,
        Some((stem, ext)) if is_data_extension(ext) => stem.to_string(),
        _ => safe,
    };
    let stem = if stem.is_empty() { "samp".to_string() } else { stem };
    format!("{stem}.{}", kind.extensions()[0])
}

fn is_data_extension(ext: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    [Kind::Fits, Kind::VoTable, Kind::Csv, Kind::Html, Kind::Gzip]
        .iter()
        .any(|k| k.extensions().contains(&ext.as_str()))
}

/// A storage path as the files API URL carries it: each segment percent-encoded.
fn encode_path(path: &str) -> String {
    path.split('/').map(crate::respond::encode_segment).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_say_the_kind() {
        assert_eq!(stored_name("my cat é#1.vot", Kind::VoTable), "my_cat_é_1.vot");
        assert_eq!(stored_name("som60.fits[31]", Kind::VoTable), "som60.fits_31.vot");
        assert_eq!(stored_name("som60.fits", Kind::VoTable), "som60.vot");
        assert_eq!(stored_name("t4.vot", Kind::VoTable), "t4.vot");
        assert_eq!(stored_name("messier.xml", Kind::VoTable), "messier.xml");
        assert_eq!(stored_name("HD 123", Kind::Fits), "HD_123.fits");
        assert_eq!(stored_name("../../etc/passwd", Kind::Fits), "etc_passwd.fits");
        assert_eq!(stored_name(".hidden", Kind::Fits), "hidden.fits");
        assert_eq!(stored_name("", Kind::Csv), "samp.csv");
        assert_eq!(stored_name("///", Kind::Fits), "samp.fits");
        let long = "x".repeat(500);
        assert!(stored_name(&long, Kind::Fits).len() <= MAX_NAME_CHARS + 5);
    }

    #[test]
    fn spectra_formats_narrow_what_is_taken() {
        let meta = |f: &str| Value::map(&[("meta", Value::map(&[("Access.Format", Value::str(f))]))]);
        let spectrum = "spectrum.load.ssa-generic";
        assert_eq!(expected_kinds(spectrum, &meta("application/fits")).unwrap(), vec![Kind::Fits]);
        assert_eq!(expected_kinds(spectrum, &Value::Map(vec![])).unwrap().len(), 3);
        assert!(expected_kinds(spectrum, &meta("image/png")).is_err());
        assert_eq!(expected_kinds("table.load.fits", &meta("text/csv")).unwrap(), vec![Kind::Fits]);
    }
}
