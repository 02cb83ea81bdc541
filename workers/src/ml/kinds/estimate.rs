//! Memory estimates of the ML kinds, made at job creation before any spectrum is read: from the
//! input's size on disk (as the spectra reader lists it) and the parameters, following the rules
//! of `som`'s estimate. Arithmetic saturates, so absurd inputs or parameters give `u64::MAX`,
//! which any limit refuses.

use std::path::Path;

use crate::{Resources, spectra};

/// Longest spectrum assumed when the input's length per spectrum is unknown (one file may hold
/// many spectra); the same bound as `som`'s.
const MAX_NATIVE_BINS: u64 = 16_384;

/// An input as it lies on disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    pub bytes: u64,
    pub files: u64,
}

impl Input {
    /// The files the reader would read for `relative` under `user_dir`. An input that cannot be
    /// listed counts as empty: creation does not fail here, the run names the problem.
    pub fn of(user_dir: &Path, relative: &str) -> Input {
        let files = spectra::list_files(&user_dir.join(relative), relative, usize::MAX).unwrap_or_default();
        let bytes = files.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum();
        Input { bytes, files: files.len() as u64 }
    }

    /// Values per spectrum assumed: a file's f32 values, within [2, MAX_NATIVE_BINS].
    pub fn bins(&self) -> u64 {
        (self.bytes / self.files.max(1) / 4).clamp(2, MAX_NATIVE_BINS)
    }

    /// Spectra assumed: as many as the bytes hold at the assumed length, at least one per file.
    pub fn spectra(&self) -> u64 {
        (self.bytes / (self.bins() * 4)).max(self.files)
    }

    /// Bytes of one spectra × `bins` f32 matrix.
    pub fn matrix(&self, bins: u64) -> u64 {
        self.spectra().saturating_mul(bins).saturating_mul(4)
    }

    /// Bytes of reading into a collection: the spectra as read (wavelength and flux as f64: four
    /// times f32 values on disk) while the matrix on the grid is filled (the collection then
    /// takes the matrix's values over).
    pub fn reading(&self, bins: u64) -> u64 {
        self.bytes.saturating_mul(4).saturating_add(self.matrix(bins))
    }

    pub fn describe(&self) -> String {
        format!("{} MiB of input in {} files", self.bytes >> 20, self.files)
    }
}

/// The resources of a run needing `bytes` at its peak, with what the estimate followed from.
pub fn resources(bytes: u64, basis: String) -> Resources {
    Resources { cores: 1, memory_mb: Some(crate::bytes_to_mb(bytes)), basis }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_input_and_saturate() {
        let folder = Input { bytes: 64 * 4000, files: 64 };
        assert_eq!(folder.bins(), 1000);
        assert_eq!(folder.spectra(), 64);
        assert_eq!(folder.matrix(1000), 64 * 4000);
        assert_eq!(folder.reading(1000), 4 * 64 * 4000 + 64 * 4000);
        // One big 2-D image: many spectra of the longest assumed length.
        let image = Input { bytes: 400 << 20, files: 1 };
        assert_eq!(image.bins(), MAX_NATIVE_BINS);
        assert!(image.matrix(image.bins()) <= 400 << 20);
        let absurd = Input { bytes: u64::MAX, files: 1 };
        assert_eq!(absurd.reading(u64::MAX), u64::MAX);
        assert_eq!(Input { bytes: 0, files: 0 }.spectra(), 0);
    }

    #[test]
    fn a_missing_input_counts_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Input::of(dir.path(), "nothing/here"), Input { bytes: 0, files: 0 });
    }
}
