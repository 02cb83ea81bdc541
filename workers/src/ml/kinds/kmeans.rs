//! The `kmeans` kind: clusters spectra with k-means ([`crate::ml::kmeans`]) and writes per-spectrum
//! labels, the centroids, inertia and silhouette.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::estimate::{self, Input};
use super::{checkpoint, inside_storage, label_text};
use crate::ml::collection::Collection;
use crate::ml::distance::Centred;
use crate::ml::results::Written;
use crate::ml::{kmeans, plot, silhouette};
use crate::votable::{Datatype, Field, Table, Value};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, Resources};

pub struct Kmeans;

impl Kind for Kmeans {
    type Params = KmeansParams;
    const NAME: &'static str = "kmeans";
    const DESCRIPTION: &'static str = "Clusters spectra with k-means (k-means++, restarts); writes each spectrum's \
        cluster, the centroids, inertia and silhouette.";

    fn parameters() -> Vec<ParamSpec> {
        parameters()
    }

    fn check(p: &KmeansParams) -> Result<(), ParamError> {
        check(p)
    }

    fn resources(p: &KmeansParams, user_dir: &Path) -> Resources {
        let input = Input::of(user_dir, &p.input);
        estimate::resources(memory_estimate(p, input), format!("k={} on {}", p.k, input.describe()))
    }

    fn run(p: KmeansParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        ctx.progress(0.0, "reading spectra");
        run_on(&p, &Collection::read(&p.input, ctx)?, ctx)
    }
}

/// Peak bytes: the read, the centred copy the distances use, every spectrum's distances to the
/// k centres, and the centroids with their per-iteration sums.
pub fn memory_estimate(p: &KmeansParams, input: Input) -> u64 {
    let (bins, k) = (input.bins(), p.k as u64);
    let distances = input.spectra().saturating_mul(k).saturating_mul(4);
    let centroids = k.saturating_mul(bins).saturating_mul(16);
    input.reading(bins).saturating_add(input.matrix(bins)).saturating_add(distances).saturating_add(centroids)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmeansParams {
    pub input: String,
    pub k: usize,
    pub n_init: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u64,
    pub silhouette_sample: usize,
}

pub fn parameters() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("input", ParamType::Path, "spectra: a folder, a file, or the matrix a preprocess job wrote")
            .required(),
        ParamSpec::new("k", ParamType::Integer { min: Some(2), max: Some(10_000) }, "number of clusters").default(8),
        ParamSpec::new(
            "n_init",
            ParamType::Integer { min: Some(1), max: Some(100) },
            "k-means++ restarts; the lowest inertia wins",
        )
        .default(3),
        ParamSpec::new(
            "max_iter",
            ParamType::Integer { min: Some(1), max: Some(10_000) },
            "Lloyd iterations per restart",
        )
        .default(300),
        ParamSpec::new(
            "tol",
            ParamType::Float { min: Some(0.0), max: Some(1.0) },
            "stop when the squared centre moves sum to less than tol × the mean feature variance",
        )
        .default(1e-4),
        ParamSpec::new("seed", ParamType::Integer { min: Some(0), max: None }, "random seed").default(0),
        ParamSpec::new(
            "silhouette_sample",
            ParamType::Integer { min: Some(0), max: Some(50_000) },
            "spectra (seeded sample) the silhouette is computed on; 0 skips it",
        )
        .default(4000),
    ]
}

pub fn check(p: &KmeansParams) -> Result<(), ParamError> {
    inside_storage("input", &p.input)
}

/// Clusters `data` and writes `clusters.vot`, `centroids.fits`, `centroids.png`, `kmeans.json`.
pub fn run_on(p: &KmeansParams, data: &Collection, ctx: &JobContext) -> Result<Outputs, Failure> {
    data.check()?;
    let (n, d) = data.flux.dim();
    if p.k > n {
        return Err(Failure::Fatal(format!("k = {} clusters but the input holds only {n} spectra", p.k)));
    }
    let started = Instant::now();
    ctx.progress(0.05, format!("k-means: {n} spectra × {d} bins, k = {}, {} restarts", p.k, p.n_init));
    let stop = checkpoint(&ctx.cancel);
    let config = kmeans::Config { k: p.k, n_init: p.n_init, max_iter: p.max_iter, tol: p.tol, seed: p.seed };
    let fit = kmeans::fit(data.flux.view(), &config, &stop)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    ctx.progress(0.8, format!("inertia {:.6e} after {} iterations; silhouette", fit.inertia, fit.iterations));
    let silhouette = if p.silhouette_sample > 0 {
        let sample = silhouette::sample(n, p.silhouette_sample, p.seed);
        silhouette::score(&Centred::new(data.flux.view()), &fit.labels, p.k, &sample)
    } else {
        None
    };
    stop()?;

    let mut out = Written::default();
    let mut table = Table::new(
        "clusters",
        vec![
            Field::new("name", Datatype::Char).array("*").ucd("meta.id"),
            Field::new("label", Datatype::Char).array("*").describe("class label from the input, if any"),
            Field::new("cluster", Datatype::Int).ucd("meta.code.class"),
            Field::new("distance", Datatype::Double).describe("Euclidean distance to the cluster centroid"),
        ],
    );
    for i in 0..n {
        let c = fit.labels[i] as usize;
        let dist = data
            .flux
            .row(i)
            .iter()
            .zip(fit.centroids.row(c))
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>();
        table.push(vec![
            Value::Text(data.names[i].clone()),
            label_text(&data.labels[i]),
            Value::Int(c as i64),
            Value::Float(dist.sqrt()),
        ]);
    }
    out.votable(ctx, "clusters.vot", &table)?;
    let centroids = fit.centroids.as_standard_layout();
    let keys = [("KMEANSK", p.k.to_string(), "clusters; row i is the centroid of cluster i")];
    out.fits_matrix(ctx, "centroids.fits", centroids.as_slice().expect("standard layout"), &data.wavelengths, &keys)?;
    let counts = fit.counts();
    let series: Vec<(String, Vec<f64>)> = (0..p.k.min(12))
        .map(|c| {
            (format!("cluster {c} ({} spectra)", counts[c]), fit.centroids.row(c).iter().map(|&v| v as f64).collect())
        })
        .collect();
    let title = format!("k-means centroids (k = {}{})", p.k, if p.k > 12 { ", first 12" } else { "" });
    out.png(ctx, "centroids.png", plot::lines(&title, "wavelength", &data.wavelengths, &series))?;
    let summary = json!({
        "spectra": n, "bins": d, "k": p.k,
        "inertia": fit.inertia, "iterations": fit.iterations, "converged": fit.converged,
        "restart_inertias": fit.run_inertias, "best_restart": fit.best_run,
        "silhouette": silhouette, "silhouette_sample": if p.silhouette_sample > 0 { Some(p.silhouette_sample.min(n)) } else { None },
        "counts": counts, "seconds": {"clustering": fit_seconds, "total": started.elapsed().as_secs_f64()},
        "params": p,
    });
    out.json(ctx, "kmeans.json", &summary)?;
    ctx.progress(1.0, format!("done: inertia {:.6e}", fit.inertia));
    Ok(Outputs { results: out.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::collection::tests::synthetic;
    use crate::ml::kinds::tests::{context, names};

    fn params(k: usize) -> KmeansParams {
        KmeansParams { input: "x".into(), k, n_init: 2, max_iter: 100, tol: 1e-4, seed: 1, silhouette_sample: 100 }
    }

    #[test]
    fn clusters_three_line_shapes_and_writes_every_result() {
        let (_dir, ctx) = context();
        let data = synthetic(90, 40);
        let outputs = run_on(&params(3), &data, &ctx).unwrap();
        assert_eq!(names(&outputs), ["clusters.vot", "centroids.fits", "centroids.png", "kmeans.json"]);
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.results_dir.join("kmeans.json")).unwrap()).unwrap();
        assert_eq!(summary["counts"], json!([30, 30, 30]), "{summary}");
        assert!(summary["silhouette"].as_f64().unwrap() > 0.9);
        let table = std::fs::read_to_string(ctx.results_dir.join("clusters.vot")).unwrap();
        assert!(table.contains("<TD>s0089.fits</TD><TD>weak</TD>"));
    }

    #[test]
    fn more_clusters_than_spectra_is_a_clear_error() {
        let (_dir, ctx) = context();
        let err = run_on(&params(50), &synthetic(10, 8), &ctx).unwrap_err();
        assert!(err.to_string().contains("k = 50 clusters but the input holds only 10 spectra"), "{err}");
    }
}
