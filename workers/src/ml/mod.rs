//! Machine learning on spectra matrices: clustering, dimensionality reduction, classification
//! and outlier scores, plus the job kinds built on them.
//!
//! Algorithms (pure compute on an N × D f32 matrix, one spectrum per row):
//! - [`distance`]: squared distances between row blocks as f32 GEMMs on centred data.
//! - [`kmeans`]: k-means++ and Lloyd with restarts; [`silhouette`] on a sample.
//! - [`pca`]: exact leading principal components by block Krylov iteration.
//! - [`knn`]: exact k nearest neighbours (symmetric GEMM tiles); [`lof`] local outlier factors.
//! - [`iforest`]: isolation forest anomaly scores.
//! - [`preprocess`]: spectra onto one grid: rest frame, masking, gap filling, normalisation.
//! - [`forest`]: random forest classification and its saved model file; [`cv`] folds and
//!   confusion matrices.
//!
//! Kinds ([`kinds`]): `preprocess` (reads each spectrum on its own grid) and `kmeans`, `pca`,
//! `classify`, `outliers` (read their input as a [`collection::Collection`] through the spectra
//! reader), writing results through [`results`] and PNGs through [`plot`].
//!
//! Each algorithm says in its header why it is written here rather than taken from linfa.

pub mod collection;
pub mod cv;
pub mod distance;
pub mod forest;
pub mod iforest;
pub mod kinds;
pub mod kmeans;
pub mod knn;
pub mod lof;
pub mod pca;
pub mod plot;
pub mod preprocess;
pub mod results;
pub mod silhouette;
