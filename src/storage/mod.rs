//! The storage root, the only code that builds paths:
//! `users/<user>/…` (each user's files, the files API's view) and
//! `jobs/<id>/{params.json, work/attempt-<n>/, results/}` (one folder per job). Each attempt
//! stages its results in its own `work/attempt-<n>/results/`; the accepted attempt's folder is
//! renamed to `results/` ([`Storage::promote_results`]).
//!
//! Every user-supplied path goes through [`RelPath::parse`], which refuses anything that could
//! leave the user's folder (`..`, absolute paths, NUL, hidden names) and anything the file
//! system would refuse later (names over 255 bytes, paths over [`MAX_PATH_BYTES`]). Files are
//! written to a temp name and renamed, so a crash never leaves a half-written file under its
//! real name; folders made for a write that then fails are removed ([`Folders`]).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Longest user path (bytes): with the storage root and `users/<name>/` in front it must stay
/// well below the 4096 bytes Linux allows a path, or folders get made and the file then fails.
pub const MAX_PATH_BYTES: usize = 1024;

/// A path below a user's folder, checked to stay there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath(Vec<String>);

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("path '{0}' is not allowed: {1}")]
    Unsafe(String, &'static str),
}

impl RelPath {
    /// Parses `a/b/c.fits`; an empty string is the user's root folder.
    pub fn parse(text: &str) -> Result<RelPath, PathError> {
        let bad = |why| Err(PathError::Unsafe(text.chars().take(200).collect(), why));
        if text.len() > MAX_PATH_BYTES {
            return bad("longer than 1024 bytes");
        }
        if text.starts_with('/') {
            return bad("absolute paths are not allowed; give a path relative to your storage");
        }
        let mut parts = Vec::new();
        for part in text.split('/').filter(|p| !p.is_empty()) {
            if part == ".." || part == "." {
                return bad("'.' and '..' are not allowed");
            }
            if part.starts_with('.') {
                return bad("names starting with '.' are reserved");
            }
            if part.len() > 255 {
                return bad("a name is longer than 255 bytes");
            }
            if part.chars().any(|c| c == '\0' || c == '\\' || c.is_control()) {
                return bad("names may not contain control characters or backslashes");
            }
            parts.push(part.to_string());
        }
        Ok(RelPath(parts))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_string(&self) -> String {
        self.0.join("/")
    }
}

/// A file of a job's `results/` folder.
#[derive(Debug, Clone)]
pub struct ResultEntry {
    pub name: String,
    pub size: u64,
    pub mime_type: &'static str,
}

#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// A file at the storage root that identifies it; remote workers compare it with theirs to check
/// that they mount the same storage.
pub const MARKER: &str = ".vocloud-storage";

impl Storage {
    /// Opens (creating if needed) the storage root.
    pub fn open(root: &Path) -> io::Result<Storage> {
        std::fs::create_dir_all(root.join("users"))?;
        std::fs::create_dir_all(root.join("jobs"))?;
        let marker = root.join(MARKER);
        if !marker.exists() {
            let id: u128 = rand::random();
            write_atomic(&marker, format!("{id:032x}\n").as_bytes())?;
        }
        Ok(Storage { root: root.to_path_buf() })
    }

    /// The identity of this storage root (the content of its marker file).
    pub fn marker(&self) -> io::Result<String> {
        std::fs::read_to_string(self.root.join(MARKER))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(id)
    }

    /// Creates `jobs/<id>/` with `work/` and `params.json` (when a job's first attempt is handed
    /// out: a job has no folder before).
    pub fn create_job_dir(&self, id: &str, params_json: &[u8]) -> io::Result<()> {
        let dir = self.job_dir(id);
        std::fs::create_dir_all(dir.join("work"))?;
        write_atomic(&dir.join("params.json"), params_json)
    }

    /// Makes the staged results of `attempt` the job's results (a rename, so readers see all of
    /// them or none). Does nothing if the attempt staged nothing or results are already in place.
    pub fn promote_results(&self, id: &str, attempt: i64) -> io::Result<()> {
        let staged = vocloud_workers::attempt_dir(&self.job_dir(id), attempt).join("results");
        let results = self.job_dir(id).join("results");
        if !staged.is_dir() || results.exists() {
            return Ok(());
        }
        std::fs::rename(staged, results)
    }

    /// Deletes the job's folder. A job that was cancelled a moment ago may still be creating
    /// entries in it while it winds down, which makes a removal fail with "directory not empty";
    /// a few retries outlast that.
    pub fn remove_job_dir(&self, id: &str) -> io::Result<()> {
        let mut tries = 0;
        loop {
            match std::fs::remove_dir_all(self.job_dir(id)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(_) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// The files of `results/`, sorted by name; partial (hidden) files are skipped.
    pub fn list_results(&self, id: &str) -> io::Result<Vec<ResultEntry>> {
        let dir = self.job_dir(id).join("results");
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            other => other?,
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if name.starts_with('.') || !meta.is_file() {
                continue;
            }
            out.push(ResultEntry { mime_type: mime_type(&name), name, size: meta.len() });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The path of result `name` of job `id`, if `name` is a plain file name.
    pub fn result_path(&self, id: &str, name: &str) -> Option<PathBuf> {
        let rel = RelPath::parse(name).ok()?;
        (rel.0.len() == 1).then(|| self.job_dir(id).join("results").join(&rel.0[0]))
    }

    /// The user's folder, created on first use.
    pub fn user_dir(&self, user: &str) -> io::Result<PathBuf> {
        let dir = self.user_root(user);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Where the user's folder is, without creating it (for read-only checks).
    pub fn user_root(&self, user: &str) -> PathBuf {
        self.root.join("users").join(user)
    }

    /// The absolute path of `rel` inside the user's folder.
    pub fn user_path(&self, user: &str, rel: &RelPath) -> io::Result<PathBuf> {
        let mut path = self.user_dir(user)?;
        path.extend(&rel.0);
        Ok(path)
    }
}

/// The folders one write made, so that a write that fails can take them away again.
#[derive(Debug, Default)]
pub struct Folders(Vec<PathBuf>);

impl Folders {
    /// Creates `dir` and its missing parents, remembering which were missing.
    pub fn create(dir: &Path) -> io::Result<Folders> {
        let mut missing = Vec::new();
        let mut at = dir;
        while std::fs::symlink_metadata(at).is_err() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        let mut made = Folders::default();
        for folder in missing.into_iter().rev() {
            match std::fs::create_dir(&folder) {
                Ok(()) => made.0.push(folder),
                // Another write made it meanwhile: it is theirs to keep.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && folder.is_dir() => {}
                Err(e) => {
                    made.remove();
                    return Err(e);
                }
            }
        }
        Ok(made)
    }

    /// Removes the folders made, deepest first, as far as they are still empty.
    pub fn remove(self) {
        for folder in self.0.iter().rev() {
            if std::fs::remove_dir(folder).is_err() {
                break;
            }
        }
    }
}

/// Bytes a user occupies: everything under `users/<user>/`, and each of the folders of their
/// jobs (`jobs/<id>/`: parameters, scratch and results). Hidden and partial files count too:
/// they take disk space all the same. Symlinks are not followed (nor counted beyond the link).
pub fn usage(storage: &Storage, user: &str, job_ids: Vec<String>) -> (u64, HashMap<String, u64>) {
    let jobs = job_ids.into_iter().map(|id| {
        let size = tree_size(&storage.job_dir(&id));
        (id, size)
    });
    (tree_size(&storage.user_root(user)), jobs.collect())
}

/// The sum of the sizes of the files below `path` (0 if it does not exist). Entries that vanish
/// during the walk (a job cleaning up) are skipped, not errors.
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The MIME type clients should expect for a file name.
pub fn mime_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "vot" | "votable" => "application/x-votable+xml",
        "xml" => "application/xml",
        "fits" | "fit" | "fts" => "application/fits",
        "nc" => "application/x-netcdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "html" | "htm" => "text/html",
        "xhtml" => "application/xhtml+xml",
        "js" | "mjs" => "text/javascript",
        "pdf" => "application/pdf",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_escape_are_refused() {
        for bad in ["../x", "a/../../b", "/etc/passwd", "a/./b", ".ssh/id", "a\\..\\b", "a\0b", "a/\nb"] {
            assert!(RelPath::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(RelPath::parse("spectra//a.fits/").unwrap().as_string(), "spectra/a.fits");
        assert!(RelPath::parse("").unwrap().is_root());
        let long = vec!["d".repeat(200); 20].join("/");
        assert!(RelPath::parse(&long).is_err(), "a 4,000-byte path");
    }

    #[test]
    fn folders_made_for_a_failed_write_are_removed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("kept")).unwrap();
        let made = Folders::create(&root.path().join("kept/a/b/c")).unwrap();
        assert!(root.path().join("kept/a/b/c").is_dir());
        made.remove();
        assert!(!root.path().join("kept/a").exists());
        assert!(root.path().join("kept").is_dir());
    }
}
