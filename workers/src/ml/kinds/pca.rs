//! The `pca` kind: principal components of a spectra collection ([`crate::ml::pca`]), the
//! explained variance, and every spectrum's coordinates on the components.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::estimate::{self, Input};
use super::{checkpoint, inside_storage, label_text};
use crate::ml::collection::Collection;
use crate::ml::results::Written;
use crate::ml::{pca, plot};
use crate::votable::{Datatype, Field, Table, Value};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, Resources};

pub struct Pca;

impl Kind for Pca {
    type Params = PcaParams;
    const NAME: &'static str = "pca";
    const DESCRIPTION: &'static str = "Principal component analysis of spectra: the components, their explained \
        variance, and every spectrum's coordinates on them.";

    fn parameters() -> Vec<ParamSpec> {
        parameters()
    }

    fn check(p: &PcaParams) -> Result<(), ParamError> {
        check(p)
    }

    fn resources(p: &PcaParams, user_dir: &Path) -> Resources {
        let input = Input::of(user_dir, &p.input);
        estimate::resources(memory_estimate(p, input), format!("components={} on {}", p.components, input.describe()))
    }

    fn run(p: PcaParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        ctx.progress(0.0, "reading spectra");
        run_on(&p, &Collection::read(&p.input, ctx)?, ctx)
    }
}

/// Peak bytes: the read, the centred f64 copy (twice the f32 matrix), and the Krylov basis of up
/// to a few blocks of k + 10 vectors in f64, over the bins and over the spectra.
pub fn memory_estimate(p: &PcaParams, input: Input) -> u64 {
    let bins = input.bins();
    let block = (p.components as u64).saturating_add(10);
    let basis = block.saturating_mul(8).saturating_mul(bins.saturating_add(input.spectra())).saturating_mul(8);
    input.reading(bins).saturating_add(input.matrix(bins).saturating_mul(2)).saturating_add(basis)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PcaParams {
    pub input: String,
    pub components: usize,
    pub seed: u64,
}

pub fn parameters() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("input", ParamType::Path, "spectra: a folder, a file, or the matrix a preprocess job wrote")
            .required(),
        ParamSpec::new(
            "components",
            ParamType::Integer { min: Some(1), max: Some(1000) },
            "principal components to compute (at most min(spectra − 1, bins))",
        )
        .default(10),
        ParamSpec::new(
            "seed",
            ParamType::Integer { min: Some(0), max: None },
            "seeds the iteration's start (results do not depend on it beyond rounding)",
        )
        .default(0),
    ]
}

pub fn check(p: &PcaParams) -> Result<(), ParamError> {
    inside_storage("input", &p.input)
}

/// Fits and writes `projections.vot`, `components.fits`, `components.png`, `projections.png`,
/// `pca.json`.
pub fn run_on(p: &PcaParams, data: &Collection, ctx: &JobContext) -> Result<Outputs, Failure> {
    data.check()?;
    let (n, d) = data.flux.dim();
    let most = d.min(n.saturating_sub(1));
    if p.components > most {
        return Err(Failure::Fatal(format!(
            "{} components asked, but {n} spectra of {d} bins have at most {most} (min(spectra − 1, bins))",
            p.components
        )));
    }
    let started = Instant::now();
    ctx.progress(0.05, format!("PCA: {n} spectra × {d} bins, {} components", p.components));
    let stop = checkpoint(&ctx.cancel);
    let fit = pca::fit(data.flux.view(), &pca::Config { components: p.components, seed: p.seed }, &stop)?;
    let seconds = started.elapsed().as_secs_f64();
    ctx.progress(0.8, "writing results");
    let k = p.components;

    let mut out = Written::default();
    let mut fields = vec![
        Field::new("name", Datatype::Char).array("*").ucd("meta.id"),
        Field::new("label", Datatype::Char).array("*").describe("class label from the input, if any"),
    ];
    fields
        .extend((1..=k).map(|c| {
            Field::new(&format!("pc{c}"), Datatype::Double).describe("coordinate on the principal component")
        }));
    let mut table = Table::new("projections", fields);
    for i in 0..n {
        let mut row = vec![Value::Text(data.names[i].clone()), label_text(&data.labels[i])];
        row.extend(fit.projections.row(i).iter().map(|&v| Value::Float(v)));
        table.push(row);
    }
    out.votable(ctx, "projections.vot", &table)?;
    let components: Vec<f32> = fit.components.iter().map(|&v| v as f32).collect();
    let keys = [("PCANCOMP", k.to_string(), "components; row i is component i + 1")];
    out.fits_matrix(ctx, "components.fits", &components, &data.wavelengths, &keys)?;
    let series: Vec<(String, Vec<f64>)> = (0..k.min(4))
        .map(|c| {
            (
                format!("PC{} ({:.2}% of the variance)", c + 1, 100.0 * fit.explained_variance_ratio[c]),
                fit.components.row(c).to_vec(),
            )
        })
        .collect();
    out.png(ctx, "components.png", plot::lines("principal components", "wavelength", &data.wavelengths, &series))?;
    let (groups, index) = groups(&data.labels);
    let second = |i: usize| if k > 1 { fit.projections[[i, 1]] } else { 0.0 };
    let points: Vec<(f64, f64, usize)> = (0..n).map(|i| (fit.projections[[i, 0]], second(i), index[i])).collect();
    out.png(
        ctx,
        "projections.png",
        plot::scatter("spectra on the first two components", ("PC1", "PC2"), &points, &groups),
    )?;
    let summary = json!({
        "spectra": n, "bins": d, "components": k,
        "explained_variance": fit.explained_variance,
        "explained_variance_ratio": fit.explained_variance_ratio,
        "singular_values": fit.singular_values,
        "total_variance": fit.total_variance,
        "covariance_products": fit.products, "max_relative_residual": fit.max_relative_residual, "converged": fit.converged,
        "seconds": seconds, "params": p,
    });
    out.json(ctx, "pca.json", &summary)?;
    let kept: f64 = fit.explained_variance_ratio.iter().sum();
    ctx.progress(1.0, format!("done: {k} components explain {:.2}% of the variance", 100.0 * kept));
    Ok(Outputs { results: out.0 })
}

/// The distinct labels in first-seen order ("unlabelled" for missing ones) and each row's index.
pub fn groups(labels: &[Option<String>]) -> (Vec<String>, Vec<usize>) {
    let mut names: Vec<String> = Vec::new();
    let index = labels
        .iter()
        .map(|l| {
            let name = l.clone().unwrap_or_else(|| "unlabelled".into());
            names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            })
        })
        .collect();
    (names, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::collection::tests::synthetic;
    use crate::ml::kinds::tests::{context, names};

    #[test]
    fn writes_components_projections_and_variances() {
        let (_dir, ctx) = context();
        let data = synthetic(60, 30);
        let outputs = run_on(&PcaParams { input: "x".into(), components: 3, seed: 0 }, &data, &ctx).unwrap();
        assert_eq!(
            names(&outputs),
            ["projections.vot", "components.fits", "components.png", "projections.png", "pca.json"]
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.results_dir.join("pca.json")).unwrap()).unwrap();
        assert!(summary["explained_variance_ratio"][0].as_f64().unwrap() > 0.9, "one line depth varies: {summary}");
        assert_eq!(summary["converged"], true);
    }

    #[test]
    fn more_components_than_bins_is_a_clear_error() {
        let (_dir, ctx) = context();
        let err =
            run_on(&PcaParams { input: "x".into(), components: 31, seed: 0 }, &synthetic(60, 30), &ctx).unwrap_err();
        assert!(err.to_string().contains("at most 30"), "{err}");
    }
}
