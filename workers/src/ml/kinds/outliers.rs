//! The `outliers` kind: local outlier factor ([`crate::ml::lof`], VO-CLOUD's LOF worker) and
//! isolation forest ([`crate::ml::iforest`]) scores for every spectrum, and the top N.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::estimate::{self, Input};
use super::{checkpoint, inside_storage, label_text};
use crate::ml::collection::Collection;
use crate::ml::results::Written;
use crate::ml::{iforest, knn, lof, plot};
use crate::votable::{Datatype, Field, Table, Value};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, Resources};

pub struct Outliers;

impl Kind for Outliers {
    type Params = OutliersParams;
    const NAME: &'static str = "outliers";
    const DESCRIPTION: &'static str = "Outlier scores of spectra: local outlier factor and isolation forest for \
        every spectrum, and the most outlying ones.";

    fn parameters() -> Vec<ParamSpec> {
        parameters()
    }

    fn check(p: &OutliersParams) -> Result<(), ParamError> {
        check(p)
    }

    fn resources(p: &OutliersParams, user_dir: &Path) -> Resources {
        let input = Input::of(user_dir, &p.input);
        let basis = format!("neighbors={} trees={} on {}", p.neighbors, p.trees, input.describe());
        estimate::resources(memory_estimate(p, input), basis)
    }

    fn run(p: OutliersParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        ctx.progress(0.0, "reading spectra");
        run_on(&p, &Collection::read(&p.input, ctx)?, ctx)
    }
}

/// Peak bytes: the read, the centred copy the neighbour search uses, its candidate lists
/// (neighbors + 8 per spectrum, index and distance) and tiles of distances, and the isolation
/// trees (two nodes per subsampled spectrum).
pub fn memory_estimate(p: &OutliersParams, input: Input) -> u64 {
    let bins = input.bins();
    let n = input.spectra();
    let neighbours = n.saturating_mul(p.neighbors as u64 + 8).saturating_mul(16);
    let tiles = 8 * 512 * 512 * 4;
    let trees = (p.trees as u64).saturating_mul((p.subsample as u64).min(n.max(1))).saturating_mul(2 * 32);
    input
        .reading(bins)
        .saturating_add(input.matrix(bins))
        .saturating_add(neighbours)
        .saturating_add(tiles)
        .saturating_add(trees)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutliersParams {
    pub input: String,
    pub method: String,
    pub neighbors: usize,
    pub trees: usize,
    pub subsample: usize,
    pub top: usize,
    pub seed: u64,
}

pub fn parameters() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("input", ParamType::Path, "spectra: a folder, a file, or the matrix a preprocess job wrote")
            .required(),
        ParamSpec::new(
            "method",
            ParamType::Choice { values: vec!["both", "lof", "iforest"] },
            "scores to compute; the top N are ranked by LOF unless only iforest is asked",
        )
        .default("both"),
        ParamSpec::new(
            "neighbors",
            ParamType::Integer { min: Some(1), max: Some(1000) },
            "LOF: neighbours per spectrum",
        )
        .default(20),
        ParamSpec::new("trees", ParamType::Integer { min: Some(1), max: Some(10_000) }, "isolation forest: trees")
            .default(100),
        ParamSpec::new(
            "subsample",
            ParamType::Integer { min: Some(2), max: Some(1_000_000) },
            "isolation forest: spectra per tree",
        )
        .default(256),
        ParamSpec::new(
            "top",
            ParamType::Integer { min: Some(1), max: Some(100_000) },
            "how many of the most outlying spectra to list",
        )
        .default(20),
        ParamSpec::new("seed", ParamType::Integer { min: Some(0), max: None }, "isolation forest seed").default(0),
    ]
}

pub fn check(p: &OutliersParams) -> Result<(), ParamError> {
    inside_storage("input", &p.input)
}

/// Rank (1 = most outlying) of every score, ties by row order.
fn ranks(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut rank = vec![0; scores.len()];
    order.iter().enumerate().for_each(|(r, &i)| rank[i] = r + 1);
    rank
}

/// Scores and writes `scores.vot`, `top.vot`, `top.png`, `outliers.json`.
pub fn run_on(p: &OutliersParams, data: &Collection, ctx: &JobContext) -> Result<Outputs, Failure> {
    data.check()?;
    let (n, d) = data.flux.dim();
    let (use_lof, use_forest) = (p.method != "iforest", p.method != "lof");
    if use_lof && p.neighbors >= n {
        return Err(Failure::Fatal(format!(
            "LOF with {} neighbours needs more spectra than that; the input holds {n}",
            p.neighbors
        )));
    }
    let started = Instant::now();
    let stop = checkpoint(&ctx.cancel);
    let lof_scores = if use_lof {
        ctx.progress(0.05, format!("LOF: {} nearest neighbours of {n} spectra × {d} bins", p.neighbors));
        Some(lof::scores(&knn::all(data.flux.view(), p.neighbors, &stop)?))
    } else {
        None
    };
    let forest_scores = if use_forest {
        ctx.progress(0.6, format!("isolation forest: {} trees", p.trees));
        let config = iforest::Config { trees: p.trees, subsample: p.subsample, seed: p.seed };
        Some(iforest::scores(data.flux.view(), &config, &stop)?)
    } else {
        None
    };
    let seconds = started.elapsed().as_secs_f64();
    ctx.progress(0.9, "writing results");

    let mut fields = vec![
        Field::new("name", Datatype::Char).array("*").ucd("meta.id"),
        Field::new("label", Datatype::Char).array("*").describe("class label from the input, if any"),
    ];
    let mut columns: Vec<(Vec<f64>, Vec<usize>)> = Vec::new();
    if let Some(s) = &lof_scores {
        fields.push(
            Field::new("lof", Datatype::Double)
                .ucd("stat.value")
                .describe("local outlier factor: about 1 inside a cluster, larger is more outlying"),
        );
        fields.push(Field::new("lof_rank", Datatype::Int).describe("1 = most outlying by LOF"));
        columns.push((s.clone(), ranks(s)));
    }
    if let Some(s) = &forest_scores {
        fields.push(
            Field::new("iforest", Datatype::Double)
                .ucd("stat.value")
                .describe("isolation forest anomaly score, 0 to 1: above 0.5 is anomalous"),
        );
        fields.push(Field::new("iforest_rank", Datatype::Int).describe("1 = most outlying by isolation forest"));
        columns.push((s.clone(), ranks(s)));
    }
    let row = |i: usize| {
        let mut row = vec![Value::Text(data.names[i].clone()), label_text(&data.labels[i])];
        for (s, r) in &columns {
            row.push(Value::Float(s[i]));
            row.push(Value::Int(r[i] as i64));
        }
        row
    };
    let mut all = Table::new("scores", fields.clone());
    (0..n).for_each(|i| all.push(row(i)));
    let mut out = Written::default();
    out.votable(ctx, "scores.vot", &all)?;
    // The first score column ranks the top list.
    let primary = &columns[0].1;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| primary[i]);
    order.truncate(p.top.min(n));
    let mut top = Table::new("top", fields);
    order.iter().for_each(|&i| top.push(row(i)));
    out.votable(ctx, "top.vot", &top)?;
    let median: Vec<f64> = (0..d)
        .map(|j| {
            let mut col: Vec<f32> = data.flux.column(j).to_vec();
            let mid = col.len() / 2;
            *col.select_nth_unstable_by(mid, f32::total_cmp).1 as f64
        })
        .collect();
    let mut series = vec![("median spectrum".to_string(), median)];
    series.extend(order.iter().take(8).enumerate().map(|(r, &i)| {
        (format!("#{} {}", r + 1, data.names[i]), data.flux.row(i).iter().map(|&v| v as f64).collect())
    }));
    out.png(ctx, "top.png", plot::lines("most outlying spectra", "wavelength", &data.wavelengths, &series))?;
    let summary = json!({
        "spectra": n, "bins": d, "method": p.method,
        "top": order.iter().map(|&i| &data.names[i]).collect::<Vec<_>>(),
        "iforest_anomalous": forest_scores.as_ref().map(|s| s.iter().filter(|&&v| v > 0.5).count()),
        "seconds": seconds, "params": p,
    });
    out.json(ctx, "outliers.json", &summary)?;
    ctx.progress(1.0, format!("done: top outlier {}", data.names[order[0]]));
    Ok(Outputs { results: out.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::collection::tests::synthetic;
    use crate::ml::kinds::tests::{context, names};

    fn params(method: &str) -> OutliersParams {
        OutliersParams {
            input: "x".into(),
            method: method.into(),
            neighbors: 10,
            trees: 100,
            subsample: 64,
            top: 3,
            seed: 1,
        }
    }

    #[test]
    fn a_planted_odd_spectrum_tops_both_scores() {
        let (_dir, ctx) = context();
        let mut data = synthetic(90, 40);
        data.flux.row_mut(41).iter_mut().enumerate().for_each(|(j, v)| *v += if j % 2 == 0 { 3.0 } else { -3.0 });
        let outputs = run_on(&params("both"), &data, &ctx).unwrap();
        assert_eq!(names(&outputs), ["scores.vot", "top.vot", "top.png", "outliers.json"]);
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.results_dir.join("outliers.json")).unwrap()).unwrap();
        assert_eq!(summary["top"][0], "s0041.fits", "{summary}");
        let scores = std::fs::read_to_string(ctx.results_dir.join("scores.vot")).unwrap();
        assert!(scores.contains("name=\"iforest_rank\""));
        let (_dir, ctx) = context();
        run_on(&params("iforest"), &data, &ctx).unwrap();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.results_dir.join("outliers.json")).unwrap()).unwrap();
        assert_eq!(summary["top"][0], "s0041.fits");
    }

    #[test]
    fn too_many_neighbours_is_a_clear_error() {
        let (_dir, ctx) = context();
        let mut p = params("lof");
        p.neighbors = 90;
        let err = run_on(&p, &synthetic(90, 8), &ctx).unwrap_err();
        assert!(err.to_string().contains("90 neighbours"), "{err}");
    }
}
