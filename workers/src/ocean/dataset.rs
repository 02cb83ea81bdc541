//! Finding a dataset's files inside the user's storage and putting its time steps in order.
//!
//! `dataset` is a user-relative folder (every `*.nc`/`*.nc4`/`*.netcdf` file in it, not
//! recursive), a single file, or a glob whose components may use `*` and `?` (no `**`).
//! Nothing may leave the user's storage: absolute paths and `..` are refused, and so are
//! symbolic links that point outside it.

use std::path::{Path, PathBuf};

use super::cf::{self, FileInfo};
use super::memory::{Budget, STEP_BYTES};
use super::time::Stamp;

/// One time step of the dataset: which file, which index along its time axis.
#[derive(Debug, Clone)]
pub struct Step {
    pub file: usize,
    pub index: usize,
    pub stamp: Stamp,
}

/// The files of a dataset (described) and the time steps selected from them, sorted by time.
#[derive(Debug)]
pub struct Dataset {
    pub files: Vec<FileInfo>,
    pub steps: Vec<Step>,
}

/// Resolves `pattern` under `root` into a sorted list of (absolute path, user-relative name).
pub fn discover(root: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, String> {
    let pattern = pattern.trim().trim_end_matches('/');
    if pattern.starts_with('/') || pattern.split('/').any(|c| c == ".." || c == ".") {
        return Err(format!("dataset '{pattern}': must be a path inside your storage (no '/', '..' or '.')"));
    }
    let mut found = Vec::new();
    expand(root, "", pattern.split('/').filter(|c| !c.is_empty()).collect::<Vec<_>>().as_slice(), &mut found)?;
    let root_real = root.canonicalize().map_err(|e| format!("your storage: {e}"))?;
    let mut files = Vec::new();
    for (path, name) in found {
        let real = path.canonicalize().map_err(|e| format!("{name}: {e}"))?;
        if !real.starts_with(&root_real) {
            return Err(format!("{name}: points outside your storage"));
        }
        if real.is_dir() {
            for entry in std::fs::read_dir(&real).map_err(|e| format!("{name}: {e}"))? {
                let entry = entry.map_err(|e| format!("{name}: {e}"))?;
                let file = entry.file_name().to_string_lossy().into_owned();
                // Hidden files are skipped: uploads in progress and editor droppings live there.
                let is_netcdf =
                    !file.starts_with('.') && [".nc", ".nc4", ".netcdf"].iter().any(|ext| file.ends_with(ext));
                if is_netcdf && entry.path().canonicalize().is_ok_and(|p| p.starts_with(&root_real) && p.is_file()) {
                    files.push((entry.path(), format!("{name}/{file}")));
                }
            }
        } else {
            files.push((real, name));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files.dedup_by(|a, b| a.1 == b.1);
    if files.is_empty() {
        return Err(format!("dataset '{pattern}': no netCDF files found"));
    }
    Ok(files)
}

fn expand(dir: &Path, prefix: &str, rest: &[&str], out: &mut Vec<(PathBuf, String)>) -> Result<(), String> {
    let Some((first, rest)) = rest.split_first() else {
        out.push((dir.to_path_buf(), prefix.to_string()));
        return Ok(());
    };
    let join = |name: &str| if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
    if !first.contains(['*', '?']) {
        let path = dir.join(first);
        if !path.exists() {
            return Err(format!("dataset: '{}' does not exist in your storage", join(first)));
        }
        return expand(&path, &join(first), rest, out);
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names.iter().filter(|n| !n.starts_with('.') && wildcard(first.as_bytes(), n.as_bytes())) {
        expand(&dir.join(name), &join(name), rest, out)?;
    }
    Ok(())
}

/// `*` matches any run of characters, `?` one character.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.split_first(), text.split_first()) {
        (None, _) => text.is_empty(),
        (Some((b'*', p)), _) => wildcard(p, text) || (!text.is_empty() && wildcard(pattern, &text[1..])),
        (Some((b'?', p)), Some((_, t))) => wildcard(p, t),
        (Some((c, p)), Some((d, t))) => c == d && wildcard(p, t),
        (Some(_), None) => false,
    }
}

/// Opens every file, describes `variable` (time axes checked against `budget`), and keeps the
/// steps in `[start, end]` sorted by time.
/// Files are only described here (metadata); data is read later, step by step.
pub fn scan(
    files: &[(PathBuf, String)],
    variable: &str,
    start: i64,
    end: i64,
    budget: &Budget,
) -> Result<Dataset, String> {
    let (mut infos, mut steps_so_far) = (Vec::with_capacity(files.len()), 0u64);
    for (path, name) in files {
        let file = cf::open(path, name)?;
        let info = cf::describe(&file, path, name, variable, budget)?;
        // Each file's time axis was checked alone; together they are held at once.
        steps_so_far = steps_so_far.saturating_add(info.stamps.len() as u64);
        let what = || format!("{name}: the time axes of {} files ({steps_so_far} time steps)", infos.len() + 1);
        budget.check(what, steps_so_far.saturating_mul(STEP_BYTES))?;
        infos.push(info);
    }
    let mut steps: Vec<Step> = infos
        .iter()
        .enumerate()
        .flat_map(|(file, info)| {
            info.stamps.iter().enumerate().map(move |(index, stamp)| Step { file, index, stamp: stamp.clone() })
        })
        .filter(|s| (start..=end).contains(&s.stamp.epoch))
        .collect();
    steps.sort_by(|a, b| a.stamp.chrono_cmp(&b.stamp));
    let first = &infos[0];
    if let Some(other) = infos.iter().find(|i| (i.ny, i.nx) != (first.ny, first.nx)) {
        return Err(format!(
            "{}: grid {}×{} differs from {} ({}×{}); a dataset must share one grid",
            other.name, other.ny, other.nx, first.name, first.ny, first.nx
        ));
    }
    Ok(Dataset { files: infos, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(wildcard(b"sst_*.nc", b"sst_20240101.nc"));
        assert!(wildcard(b"sst_2024??01.nc", b"sst_20240101.nc"));
        assert!(!wildcard(b"sst_*.nc", b"sst_20240101.nc4"));
        assert!(wildcard(b"*", b""));
    }

    #[test]
    fn paths_leaving_the_storage_are_refused() {
        let dir = std::env::temp_dir();
        for bad in ["/etc", "../x", "a/../../b", "./a"] {
            assert!(discover(&dir, bad).unwrap_err().contains("inside your storage"), "{bad}");
        }
    }
}
