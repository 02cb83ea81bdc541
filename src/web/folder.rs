//! Folder listings for the files page, fast on a folder of 100,000 files: the folder is read
//! once (names and types only — `readdir` gives both without a `stat` per file), kept for
//! [`FRESH_FOR`] or until the folder's own modification time changes (an entry added, removed
//! or renamed), sorted once per sort key, and paged. Sizes and dates are looked up only for the
//! entries a page shows — unless the listing is sorted by size or date, which needs them all
//! (one `stat` per entry, once per cached listing).
//!
//! The cache is bounded by the total number of entries it holds; the least recently used
//! listings go first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// How long a listing is trusted without reading the folder again.
const FRESH_FOR: Duration = Duration::from_secs(10);
/// Entries all cached listings may hold together (~100 bytes each).
const MAX_CACHED_ENTRIES: usize = 1_000_000;

/// One entry of a folder.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// Size and modification time (Unix ms) of an entry.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta {
    pub size: u64,
    pub modified: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Name,
    Size,
    Modified,
}

impl SortKey {
    pub fn parse(text: &str) -> SortKey {
        match text {
            "size" => SortKey::Size,
            "date" => SortKey::Modified,
            _ => SortKey::Name,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Modified => "date",
        }
    }
}

/// A read folder: entries in directory order, their metadata once needed, sorted orders.
struct Listing {
    entries: Vec<Entry>,
    metas: Option<Arc<Vec<Meta>>>,
    orders: HashMap<SortKey, Arc<Vec<u32>>>,
    folder_mtime: Option<SystemTime>,
    read_at: Instant,
    used_at: Instant,
}

/// A page of a folder: entries with metadata, in the order asked, and the total count.
pub struct Page {
    pub entries: Vec<(Entry, Meta)>,
    pub total: usize,
}

fn cache() -> &'static Mutex<HashMap<PathBuf, Listing>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Listing>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn ms(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Size and mtime of `dir/name` (zero if it vanished meanwhile).
pub fn meta(dir: &Path, name: &str) -> Meta {
    match std::fs::metadata(dir.join(name)) {
        Ok(m) => Meta { size: if m.is_file() { m.len() } else { 0 }, modified: m.modified().map(ms).unwrap_or(0) },
        Err(_) => Meta::default(),
    }
}

/// Reads a folder: visible entries (names starting with `.` are partial uploads and the like).
fn read(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Symlinks are listed as what they point to.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false)
            || (entry.file_type().is_ok_and(|t| t.is_symlink()) && entry.path().is_dir());
        entries.push(Entry { name, is_dir });
    }
    Ok(entries)
}

/// Folders first, then by `key`; names break ties (case-insensitively, then exactly).
fn sorted(entries: &[Entry], metas: Option<&[Meta]>, key: SortKey) -> Vec<u32> {
    let lower: Vec<String> = entries.iter().map(|e| e.name.to_lowercase()).collect();
    let mut order: Vec<u32> = (0..entries.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (ea, eb) = (&entries[a as usize], &entries[b as usize]);
        let by_key = match (key, metas) {
            (SortKey::Size, Some(m)) => m[a as usize].size.cmp(&m[b as usize].size),
            (SortKey::Modified, Some(m)) => m[a as usize].modified.cmp(&m[b as usize].modified),
            _ => std::cmp::Ordering::Equal,
        };
        eb.is_dir
            .cmp(&ea.is_dir)
            .then(by_key)
            .then_with(|| lower[a as usize].cmp(&lower[b as usize]))
            .then_with(|| ea.name.cmp(&eb.name))
    });
    order
}

/// Drops cached listings, least recently used first, until `room` more entries fit.
fn make_room(cache: &mut HashMap<PathBuf, Listing>, room: usize) {
    let mut held: usize = cache.values().map(|l| l.entries.len()).sum();
    while held + room > MAX_CACHED_ENTRIES {
        let Some(oldest) = cache.iter().min_by_key(|(_, l)| l.used_at).map(|(p, _)| p.clone()) else { break };
        held -= cache.remove(&oldest).map_or(0, |l| l.entries.len());
    }
}

/// Forgets the listing of `dir` (after the pages changed it).
pub fn forget(dir: &Path) {
    cache().lock().unwrap_or_else(|e| e.into_inner()).remove(dir);
}

/// Entries `offset..offset + limit` of folder `dir` sorted by `key` (descending if `desc`,
/// folders still first). Blocking: call it from `web::block`.
pub fn page(dir: &Path, key: SortKey, desc: bool, offset: usize, limit: usize) -> std::io::Result<Page> {
    let folder_mtime = modified(dir);
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    let stale = cache.get(dir).is_none_or(|l| l.read_at.elapsed() > FRESH_FOR || l.folder_mtime != folder_mtime);
    if stale {
        // Read without holding the lock: another folder's page need not wait for this one.
        drop(cache);
        let entries = read(dir)?;
        cache = self::cache().lock().unwrap_or_else(|e| e.into_inner());
        make_room(&mut cache, entries.len());
        let now = Instant::now();
        let listing =
            Listing { entries, metas: None, orders: HashMap::new(), folder_mtime, read_at: now, used_at: now };
        cache.insert(dir.to_path_buf(), listing);
    }
    let listing = cache.get_mut(dir).expect("listing cached above");
    listing.used_at = Instant::now();
    if key != SortKey::Name && listing.metas.is_none() {
        listing.metas = Some(Arc::new(listing.entries.iter().map(|e| meta(dir, &e.name)).collect()));
    }
    let order = match listing.orders.get(&key) {
        Some(order) => order.clone(),
        None => {
            let order = Arc::new(sorted(&listing.entries, listing.metas.as_deref().map(|m| m.as_slice()), key));
            listing.orders.insert(key, order.clone());
            order
        }
    };
    let total = order.len();
    let folders = listing.entries.iter().filter(|e| e.is_dir).count();
    // Descending keeps folders first: reverse the folders and the files separately.
    let position = |i: usize| -> usize {
        if !desc {
            i
        } else if i < folders {
            folders - 1 - i
        } else {
            total - 1 - (i - folders)
        }
    };
    let end = total.min(offset.saturating_add(limit));
    let picked: Vec<(Entry, Option<Meta>)> = (offset.min(end)..end)
        .map(|i| {
            let k = order[position(i)] as usize;
            (listing.entries[k].clone(), listing.metas.as_ref().map(|m| m[k]))
        })
        .collect();
    drop(cache);
    // Sorted by name, only the shown entries need a stat (after the lock is released).
    let entries = picked
        .into_iter()
        .map(|(e, m)| {
            let m = m.unwrap_or_else(|| meta(dir, &e.name));
            (e, m)
        })
        .collect();
    Ok(Page { entries, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_come_first_and_sorting_by_size_keeps_them_first() {
        let dir = tempfile::tempdir().unwrap();
        for (name, size) in [("b.fits", 30), ("A.fits", 10), ("c.fits", 20)] {
            std::fs::write(dir.path().join(name), vec![0u8; size]).unwrap();
        }
        std::fs::create_dir(dir.path().join("zeta")).unwrap();
        std::fs::create_dir(dir.path().join("alpha")).unwrap();
        std::fs::write(dir.path().join(".upload.partial"), b"x").unwrap();
        let names = |key, desc| -> Vec<String> {
            page(dir.path(), key, desc, 0, 10).unwrap().entries.into_iter().map(|(e, _)| e.name).collect()
        };
        assert_eq!(names(SortKey::Name, false), ["alpha", "zeta", "A.fits", "b.fits", "c.fits"]);
        assert_eq!(names(SortKey::Name, true), ["zeta", "alpha", "c.fits", "b.fits", "A.fits"]);
        assert_eq!(names(SortKey::Size, false), ["alpha", "zeta", "A.fits", "c.fits", "b.fits"]);
        assert_eq!(names(SortKey::Size, true), ["zeta", "alpha", "b.fits", "c.fits", "A.fits"]);
        let second = page(dir.path(), SortKey::Name, false, 2, 2).unwrap();
        assert_eq!(second.total, 5);
        assert_eq!(
            second.entries.iter().map(|(e, m)| (e.name.as_str(), m.size)).collect::<Vec<_>>(),
            [("A.fits", 10), ("b.fits", 30)]
        );
    }

    #[test]
    fn a_new_file_shows_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("one"), b"1").unwrap();
        assert_eq!(page(dir.path(), SortKey::Name, false, 0, 10).unwrap().total, 1);
        // The folder's mtime has a coarse clock on some file systems: forget explicitly, as the
        // pages do after their own changes.
        std::fs::write(dir.path().join("two"), b"2").unwrap();
        forget(dir.path());
        assert_eq!(page(dir.path(), SortKey::Name, false, 0, 10).unwrap().total, 2);
    }
}
