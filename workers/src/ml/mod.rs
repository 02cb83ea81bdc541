//! Machine learning on spectra matrices: clustering, dimensionality reduction, classification
//! and outlier scores, plus the job kinds built on them.
//!
//! Algorithms (pure compute on an N × D f32 matrix, one spectrum per row):
//! - [`distance`]: squared distances between row blocks as f32 GEMMs on centred data.
//! - [`kmeans`]: k-means++ and Lloyd with restarts; [`silhouette`] on a sample.
//! - [`pca`]: exact leading principal components by block Krylov iteration.
//!
//! Each algorithm says in its header why it is written here rather than taken from linfa.

pub mod distance;
pub mod kmeans;
pub mod silhouette;
