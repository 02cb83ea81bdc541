//! The `classify` kind: trains a random forest ([`crate::ml::forest`]) on labelled spectra with
//! stratified k-fold cross-validation and saves the model, or applies a saved model to a
//! collection; predictions carry the class probabilities.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, Axis};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::estimate::{self, Input};
use super::{checkpoint, inside_storage, label_text};
use crate::ml::collection::Collection;
use crate::ml::forest::model::{self, Model};
use crate::ml::results::Written;
use crate::ml::{cv, forest, plot, preprocess};
use crate::votable::{Datatype, Field, Table, Value};
use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, ParamType, Resources};

pub struct Classify;

impl Kind for Classify {
    type Params = ClassifyParams;
    const NAME: &'static str = "classify";
    const DESCRIPTION: &'static str = "Random forest classification of spectra: trains on labelled spectra with \
        cross-validation and saves the model, or classifies spectra with a saved model.";

    fn parameters() -> Vec<ParamSpec> {
        parameters()
    }

    fn check(p: &ClassifyParams) -> Result<(), ParamError> {
        check(p)
    }

    fn resources(p: &ClassifyParams, user_dir: &Path) -> Resources {
        let size = |path: &Option<String>| path.as_ref().map(|path| Input::of(user_dir, path));
        let model_bytes =
            p.model.as_ref().and_then(|m| std::fs::metadata(user_dir.join(m)).ok()).map_or(0, |m| m.len());
        let (input, apply) = (Input::of(user_dir, &p.input), size(&p.apply));
        let basis = format!("trees={} on {}", p.trees, input.describe());
        estimate::resources(memory_estimate(p, input, apply, model_bytes), basis)
    }

    fn run(p: ClassifyParams, ctx: &JobContext) -> Result<Outputs, Failure> {
        ctx.progress(0.0, "reading spectra");
        let read = |path: &str| Collection::read(path, ctx);
        if let Some(model) = &p.model {
            let model = read_model(&ctx.input(model), model)?;
            return apply_model(&model, &read(&p.input)?, ctx);
        }
        let data = read(&p.input)?;
        let apply = p.apply.as_deref().map(read).transpose()?;
        train(&p, &data, apply.as_ref(), ctx)
    }
}

/// Peak bytes: the reads (input and `apply`), the bins' quantile codes (one byte per value),
/// the trees (at most two nodes per training spectrum, with their class fractions, for each
/// tree), a saved model parsed from JSON (about three times its file), and the collection that
/// gets classified (`input` with `model`, or `apply`) once more, in case it is resampled onto
/// the model's grid (assumed as long as its own).
pub fn memory_estimate(p: &ClassifyParams, input: Input, apply: Option<Input>, model_bytes: u64) -> u64 {
    let bins = input.bins();
    let codes = input.spectra().saturating_mul(bins);
    let trees = (p.trees as u64).saturating_mul(input.spectra()).saturating_mul(2 * 48);
    let resampled = if p.model.is_some() { input.matrix(bins) } else { 0 };
    let apply = apply.map_or(0, |a| a.reading(a.bins()).saturating_add(a.matrix(a.bins()))).saturating_add(resampled);
    input
        .reading(bins)
        .saturating_add(codes)
        .saturating_add(trees)
        .saturating_add(apply)
        .saturating_add(model_bytes.saturating_mul(3))
}

/// Largest model file a job reads (a forest of 5,000 deep trees on 20,000 spectra is ~0.5 GB).
pub const MODEL_FILE_LIMIT: u64 = 2 << 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifyParams {
    pub input: String,
    pub model: Option<String>,
    pub apply: Option<String>,
    pub trees: usize,
    pub folds: usize,
    pub max_depth: Option<usize>,
    pub features: Option<usize>,
    pub seed: u64,
}

pub fn parameters() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new(
            "input",
            ParamType::Path,
            "labelled spectra to train on (labels from a label/class column or CLASS keywords); with `model`, the spectra to classify",
        )
        .required(),
        ParamSpec::new("model", ParamType::Path, "a model.json saved by an earlier classify job: classify `input` with it instead of training"),
        ParamSpec::new("apply", ParamType::Path, "unlabelled spectra to classify with the model trained in this job"),
        ParamSpec::new("trees", ParamType::Integer { min: Some(1), max: Some(5000) }, "trees in the forest").default(100),
        ParamSpec::new("folds", ParamType::Integer { min: Some(0), max: Some(50) }, "cross-validation folds (0: none)").default(5),
        ParamSpec::new("max_depth", ParamType::Integer { min: Some(1), max: Some(1000) }, "deepest tree level (default: grow until pure)"),
        ParamSpec::new("features", ParamType::Integer { min: Some(1), max: Some(1_000_000) }, "bins searched per split (default: √bins)"),
        ParamSpec::new("seed", ParamType::Integer { min: Some(0), max: None }, "random seed").default(0),
    ]
}

pub fn check(p: &ClassifyParams) -> Result<(), ParamError> {
    inside_storage("input", &p.input)?;
    if let Some(model) = &p.model {
        inside_storage("model", model)?;
    }
    if let Some(apply) = &p.apply {
        inside_storage("apply", apply)?;
    }
    if p.model.is_some() && p.apply.is_some() {
        return Err(ParamError::invalid(
            "apply",
            "is for training jobs; with `model`, `input` is what gets classified",
        ));
    }
    if p.folds == 1 {
        return Err(ParamError::invalid("folds", "must be 0 (no cross-validation) or at least 2"));
    }
    Ok(())
}

/// Trains on the labelled spectra of `data`; writes `model.json`, `classify.json`,
/// `confusion.vot`, `confusion.png`, `predictions.vot` and, with `apply`, `applied.vot`.
pub fn train(
    p: &ClassifyParams,
    data: &Collection,
    apply: Option<&Collection>,
    ctx: &JobContext,
) -> Result<Outputs, Failure> {
    data.check()?;
    let (n, d) = data.flux.dim();
    let mut names: Vec<String> = data.labels.iter().flatten().cloned().collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        return Err(Failure::Fatal(format!(
            "training needs spectra of at least two classes; the input's labels name {}",
            if names.is_empty() {
                "none (no label or class column, no CLASS keyword)".to_string()
            } else {
                format!("only '{}'", names[0])
            }
        )));
    }
    let classes = names.len();
    let labels: Vec<Option<u16>> = data
        .labels
        .iter()
        .map(|l| l.as_ref().map(|l| names.binary_search(l).expect("collected above") as u16))
        .collect();
    let dense: Vec<u16> = labels.iter().map(|l| l.unwrap_or(0)).collect();
    let labelled: Vec<usize> = (0..n).filter(|&i| labels[i].is_some()).collect();
    let config =
        forest::Config { trees: p.trees, mtry: p.features, max_depth: p.max_depth, min_samples_split: 2, seed: p.seed };
    let stop = checkpoint(&ctx.cancel);
    let started = Instant::now();

    // Out-of-fold probabilities of the labelled spectra.
    let mut probs = vec![0f32; n * classes];
    let mut confusion = cv::Confusion::new(classes);
    let mut fold_accuracy = Vec::new();
    let k = p.folds.min(labelled.len());
    if k >= 2 {
        let folds = cv::stratified_folds(&labels, classes, k, p.seed);
        for f in 0..k {
            ctx.progress(0.05 + 0.8 * f as f64 / (k + 1) as f64, format!("cross-validation: fold {}/{k}", f + 1));
            let (train, test): (Vec<usize>, Vec<usize>) = labelled.iter().partition(|&&i| folds[i] != Some(f));
            let model = forest::fit(data.flux.view(), &dense, classes, &train, &config, &stop)?;
            let fold_probs = model.predict_proba(data.flux.view(), &test);
            let mut fold = cv::Confusion::new(classes);
            for (t, (&i, &predicted)) in test.iter().zip(&forest::argmax(&fold_probs, classes)).enumerate() {
                probs[i * classes..(i + 1) * classes].copy_from_slice(&fold_probs[t * classes..(t + 1) * classes]);
                confusion.add(dense[i], predicted);
                fold.add(dense[i], predicted);
            }
            fold_accuracy.push(fold.accuracy());
        }
    }
    ctx.progress(
        0.05 + 0.8 * k as f64 / (k + 1) as f64,
        format!("training the model on {} labelled spectra", labelled.len()),
    );
    let forest = forest::fit(data.flux.view(), &dense, classes, &labelled, &config, &stop)?;
    // Spectra without a label, and every spectrum when there was no cross-validation, get the
    // final model's probabilities.
    let rest: Vec<usize> = (0..n).filter(|&i| k < 2 || labels[i].is_none()).collect();
    let rest_probs = forest.predict_proba(data.flux.view(), &rest);
    for (t, &i) in rest.iter().enumerate() {
        probs[i * classes..(i + 1) * classes].copy_from_slice(&rest_probs[t * classes..(t + 1) * classes]);
    }
    let seconds = started.elapsed().as_secs_f64();
    ctx.progress(0.9, "writing results");

    let model = Model { forest, class_names: names.clone(), wavelengths: data.wavelengths.clone() };
    let counts: Vec<usize> = (0..classes).map(|c| labels.iter().filter(|&&l| l == Some(c as u16)).count()).collect();
    let summary = json!({
        "spectra": n, "bins": d, "labelled": labelled.len(), "classes": names, "class_counts": counts,
        "folds": if k >= 2 { Some(k) } else { None },
        "cv_accuracy": if k >= 2 { Some(confusion.accuracy()) } else { None },
        "fold_accuracy": fold_accuracy,
        "confusion": if k >= 2 { Some((0..classes).map(|t| confusion.row(t).to_vec()).collect::<Vec<_>>()) } else { None },
        "small_classes": (0..classes).filter(|&c| k >= 2 && counts[c] < k).map(|c| &names[c]).collect::<Vec<_>>(),
        "nodes": model.forest.trees.iter().map(|t| t.node_count()).sum::<usize>(),
        "seconds": seconds, "params": p,
    });
    let mut out = Written::default();
    out.bytes(ctx, "model.json", "application/json", &model::save(&model, summary.clone()))?;
    out.json(ctx, "classify.json", &summary)?;
    if k >= 2 {
        let mut fields = vec![Field::new("true_class", Datatype::Char).array("*")];
        fields.extend(names.iter().map(|c| Field::new(&format!("predicted_{c}"), Datatype::Long)));
        let mut table = Table::new("confusion", fields);
        for (t, name) in names.iter().enumerate() {
            let mut row = vec![Value::Text(name.clone())];
            row.extend(confusion.row(t).iter().map(|&v| Value::Int(v as i64)));
            table.push(row);
        }
        out.votable(ctx, "confusion.vot", &table)?;
        let title = format!("{k}-fold cross-validation: accuracy {:.2}%", 100.0 * confusion.accuracy());
        out.png(ctx, "confusion.png", plot::matrix(&title, &names, &confusion.counts))?;
    }
    out.votable(ctx, "predictions.vot", &predictions(data, &names, &probs))?;
    if let Some(other) = apply {
        ctx.progress(0.95, format!("classifying {} spectra of `apply`", other.len()));
        out.votable(ctx, "applied.vot", &classify_with(&model, other)?)?;
    }
    let headline = if k >= 2 {
        format!("cross-validated accuracy {:.2}%", 100.0 * confusion.accuracy())
    } else {
        "model trained".into()
    };
    ctx.progress(1.0, format!("done: {headline}"));
    Ok(Outputs { results: out.0 })
}

/// Reads a saved model, checking its size before reading it.
pub fn read_model(path: &Path, shown: &str) -> Result<Model, Failure> {
    let size = std::fs::metadata(path).map_err(|e| Failure::fatal(shown, e))?.len();
    if size > MODEL_FILE_LIMIT {
        return Err(Failure::Fatal(format!(
            "{shown}: {size} bytes is larger than a model file may be ({MODEL_FILE_LIMIT})"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Failure::fatal(shown, e))?;
    model::load(&bytes).map_err(|e| Failure::fatal(shown, e))
}

/// Classifies `data` with a saved model; writes `predictions.vot`.
pub fn apply_model(model: &Model, data: &Collection, ctx: &JobContext) -> Result<Outputs, Failure> {
    ctx.progress(0.1, format!("classifying {} spectra", data.len()));
    let mut out = Written::default();
    out.votable(ctx, "predictions.vot", &classify_with(model, data)?)?;
    ctx.progress(1.0, "done");
    Ok(Outputs { results: out.0 })
}

fn classify_with(model: &Model, data: &Collection) -> Result<Table, Failure> {
    data.check()?;
    let data = on_model_grid(model, data)?;
    let rows: Vec<usize> = (0..data.len()).collect();
    let probs = model.forest.predict_proba(data.flux.view(), &rows);
    Ok(predictions(&data, &model.class_names, &probs))
}

/// Spectra resampled per chunk: each becomes a preprocess spectrum with f64 copies of the grid
/// and its fluxes, so a chunk bounds that transient memory.
const RESAMPLE_ROWS: usize = 1024;

/// `data` on the model's wavelengths: as it is when the grids agree; else, when the model's
/// grid lies within the collection's range, each spectrum linearly interpolated onto it by
/// preprocess's resampling (no shift, masking or normalisation, which the training data had or
/// had not already); else an error naming both ranges. Interpolating only, never
/// extrapolating: flux beyond a spectrum's ends would be invented.
fn on_model_grid<'a>(model: &Model, data: &'a Collection) -> Result<Cow<'a, Collection>, Failure> {
    let (want, have) = (&model.wavelengths, &data.wavelengths);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(1.0);
    if want.len() == have.len() && want.iter().zip(have).all(|(&a, &b)| close(a, b)) {
        return Ok(Cow::Borrowed(data));
    }
    let span = |w: &[f64]| format!("{} bins from {} to {}", w.len(), w[0], w[w.len() - 1]);
    let (first, last) = (want[0], want[want.len() - 1]);
    let inside =
        |w: f64| (w > have[0] || close(w, have[0])) && (w < have[have.len() - 1] || close(w, have[have.len() - 1]));
    if !(inside(first) && inside(last)) {
        return Err(Failure::Fatal(format!(
            "the model was trained on {}; the spectra to classify are on {}, which does not cover it \
             (they can be resampled onto the model's grid only within their own range)",
            span(want),
            span(have)
        )));
    }
    // A model end within rounding of the collection's end is masked by preprocess and filled
    // with the nearest value, so no share of masked points is refused here.
    let config = preprocess::Config {
        wave_min: None,
        wave_max: None,
        bins: None,
        step: None,
        scale: preprocess::Scale::Linear,
        normalize: preprocess::Normalize::None,
        clip_min: None,
        clip_max: None,
        sigma_clip: None,
        max_masked: 1.0,
    };
    let mut flux = Array2::<f32>::zeros((data.len(), want.len()));
    // One grid shared by every spectrum of the collection (preprocess's own input form).
    let wave: std::sync::Arc<[f64]> = std::sync::Arc::from(&have[..]);
    for (chunk, mut out) in flux.axis_chunks_iter_mut(Axis(0), RESAMPLE_ROWS).enumerate() {
        let start = chunk * RESAMPLE_ROWS;
        let spectra: Vec<preprocess::Spectrum> = (start..start + out.nrows())
            .map(|i| preprocess::Spectrum {
                name: data.names[i].clone(),
                label: None,
                wave: wave.clone(),
                flux: data.flux.row(i).to_vec(),
                velocity: None,
            })
            .collect();
        let resampled = preprocess::to_grid(&spectra, want, &config);
        for ((mut row, values), (s, outcome)) in
            out.outer_iter_mut().zip(resampled.rows).zip(spectra.iter().zip(&resampled.outcomes))
        {
            let values = values.ok_or_else(|| {
                let why = outcome.dropped.as_deref().unwrap_or("dropped");
                Failure::Fatal(format!("spectrum '{}' cannot be resampled onto the model's grid: {why}", s.name))
            })?;
            row.iter_mut().zip(values).for_each(|(o, v)| *o = v);
        }
    }
    Ok(Cow::Owned(Collection {
        names: data.names.clone(),
        labels: data.labels.clone(),
        wavelengths: want.clone(),
        flux,
    }))
}

/// name, label, predicted class, its probability, and one probability column per class.
fn predictions(data: &Collection, names: &[String], probs: &[f32]) -> Table {
    let classes = names.len();
    let mut fields = vec![
        Field::new("name", Datatype::Char).array("*").ucd("meta.id"),
        Field::new("label", Datatype::Char).array("*").describe("class label from the input, if any"),
        Field::new("predicted", Datatype::Char).array("*").ucd("meta.code.class"),
        Field::new("probability", Datatype::Float).describe("probability of the predicted class"),
    ];
    fields.extend(names.iter().map(|c| Field::new(&format!("p_{c}"), Datatype::Float)));
    let mut table = Table::new("predictions", fields);
    let best = forest::argmax(probs, classes);
    for i in 0..data.len() {
        let p = &probs[i * classes..(i + 1) * classes];
        let mut row = vec![
            Value::Text(data.names[i].clone()),
            label_text(&data.labels[i]),
            Value::Text(names[best[i] as usize].clone()),
            Value::Float(p[best[i] as usize] as f64),
        ];
        row.extend(p.iter().map(|&v| Value::Float(v as f64)));
        table.push(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::collection::tests::synthetic;
    use crate::ml::kinds::tests::{context, names};

    fn params() -> ClassifyParams {
        ClassifyParams {
            input: "x".into(),
            model: None,
            apply: None,
            trees: 30,
            folds: 3,
            max_depth: None,
            features: None,
            seed: 2,
        }
    }

    #[test]
    fn trains_cross_validates_saves_and_applies_a_model() {
        let (_dir, ctx) = context();
        let mut data = synthetic(120, 30);
        data.labels[5] = None;
        let other = synthetic(30, 30);
        let outputs = train(&params(), &data, Some(&other), &ctx).unwrap();
        assert_eq!(
            names(&outputs),
            ["model.json", "classify.json", "confusion.vot", "confusion.png", "predictions.vot", "applied.vot"]
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.results_dir.join("classify.json")).unwrap()).unwrap();
        assert!(summary["cv_accuracy"].as_f64().unwrap() > 0.95, "{summary}");
        assert_eq!(summary["labelled"], 119);
        // A later job applies the saved model.
        let model = read_model(&ctx.results_dir.join("model.json"), "model.json").unwrap();
        let (_dir2, ctx2) = context();
        apply_model(&model, &other, &ctx2).unwrap();
        let table = std::fs::read_to_string(ctx2.results_dir.join("predictions.vot")).unwrap();
        assert!(table.contains("<TD>s0002.fits</TD><TD>weak</TD><TD>weak</TD>"), "{}", &table[..2000.min(table.len())]);
        // A grid that does not cover the model's is refused, naming both.
        let mut shifted = other.clone();
        shifted.wavelengths.iter_mut().for_each(|w| *w += 1.0);
        let err = apply_model(&model, &shifted, &ctx2).unwrap_err().to_string();
        assert!(err.contains("trained on 30 bins from 6500 to 6529"), "{err}");
        assert!(err.contains("30 bins from 6501 to 6530, which does not cover it"), "{err}");
    }

    #[test]
    fn a_saved_model_classifies_spectra_on_a_wider_finer_grid() {
        let (_dir, ctx) = context();
        let model = {
            train(&params(), &synthetic(120, 30), None, &ctx).unwrap();
            read_model(&ctx.results_dir.join("model.json"), "model.json").unwrap()
        };
        // The same three line shapes (synthetic's, without its noise) sampled every 0.5 Å over
        // 6490–6540 Å, around the model's 6500–6529 Å.
        let (n, fine) = (30, 101);
        let line = |i: usize, w: f64| {
            let u = (w - 6500.0 - 15.0) / 4.0;
            1.0 - [0.6, -0.4, 0.2][i % 3] * (-0.5 * u * u).exp()
        };
        let data = Collection {
            names: (0..n).map(|i| format!("f{i:04}.fits")).collect(),
            labels: vec![None; n],
            wavelengths: (0..fine).map(|j| 6490.0 + 0.5 * j as f64).collect(),
            flux: Array2::from_shape_fn((n, fine), |(i, j)| line(i, 6490.0 + 0.5 * j as f64) as f32),
        };
        let table = classify_with(&model, &data).unwrap();
        let classes = ["absorption", "emission", "weak"];
        let right = table
            .rows
            .iter()
            .enumerate()
            .filter(|(i, row)| matches!(&row[2], Value::Text(c) if c == classes[i % 3]))
            .count();
        assert!(right >= n * 9 / 10, "{right} of {n} classified as their line shape");
    }

    #[test]
    fn one_class_or_a_foreign_model_file_is_a_clear_error() {
        let (_dir, ctx) = context();
        let mut data = synthetic(20, 10);
        data.labels.iter_mut().for_each(|l| *l = Some("star".into()));
        assert!(train(&params(), &data, None, &ctx).unwrap_err().to_string().contains("only 'star'"));
        std::fs::write(ctx.results_dir.join("foreign.json"), b"{\"format\": \"pickle\"}").unwrap();
        let err = read_model(&ctx.results_dir.join("foreign.json"), "models/foreign.json").unwrap_err().to_string();
        assert!(err.starts_with("models/foreign.json: not a vocloud model file"), "{err}");
    }
}
