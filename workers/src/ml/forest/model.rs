//! The saved model file of a `classify` job: versioned JSON, so that a later job (or a person with
//! a text editor or Python's `json`) can read it.
//!
//! ```json
//! {"format": "vocloud-random-forest", "version": 1,
//!  "classes": ["emission", "absorption"], "wavelengths": [6250.0, …],
//!  "trees": [{"feature": […], "threshold": […], "left": […], "right": […], "leaves": […]}, …],
//!  "training": {…}}
//! ```
//!
//! A tree's internal node i tests `x[feature[i]] <= threshold[i]` and goes to `left[i]` or
//! `right[i]`; a child c ≥ 0 is internal node c (always > i), c < 0 is leaf −1 − c, whose class
//! probabilities are `leaves[(−1 − c) · classes ..][..classes]`. `training` records the job's
//! parameters and cross-validated accuracy and is not needed to apply the model.
//!
//! Loading checks everything a prediction relies on (the file may come from anyone): the format
//! and version, that indices stay in range and children come after their parents (so walking a
//! tree always ends), and that every number is finite, before any tree is used.

use serde::{Deserialize, Serialize};

use super::Forest;
use super::tree::Tree;

pub const FORMAT: &str = "vocloud-random-forest";
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    classes: Vec<String>,
    wavelengths: Vec<f64>,
    trees: Vec<Tree>,
    #[serde(default)]
    training: serde_json::Value,
}

/// A model with the names of its classes and the wavelength of each feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub forest: Forest,
    pub class_names: Vec<String>,
    pub wavelengths: Vec<f64>,
}

/// The model as file bytes; `training` is stored as given.
pub fn save(model: &Model, training: serde_json::Value) -> Vec<u8> {
    let file = File {
        format: FORMAT.into(),
        version: VERSION,
        classes: model.class_names.clone(),
        wavelengths: model.wavelengths.clone(),
        trees: model.forest.trees.clone(),
        training,
    };
    serde_json::to_vec(&file).expect("a model always serialises")
}

/// Reads and checks a model file's bytes.
pub fn load(bytes: &[u8]) -> Result<Model, String> {
    #[derive(Deserialize)]
    struct Header {
        format: Option<String>,
        version: Option<u32>,
    }
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a vocloud model file (expected JSON with \"format\": \"{FORMAT}\"): {e}"))?;
    if header.format.as_deref() != Some(FORMAT) {
        return Err(format!("not a vocloud model file: \"format\" is {:?}, expected \"{FORMAT}\"", header.format));
    }
    match header.version {
        Some(VERSION) => {}
        Some(v) => return Err(format!("model file version {v} is not one this vocloud reads (version {VERSION})")),
        None => return Err("model file has no \"version\"".into()),
    }
    let file: File = serde_json::from_slice(bytes).map_err(|e| format!("malformed model file: {e}"))?;
    let classes = file.classes.len();
    if !(2..=u16::MAX as usize).contains(&classes) {
        return Err(format!("model file has {classes} classes (expected 2 to {})", u16::MAX));
    }
    let features = file.wavelengths.len();
    if features == 0 || file.wavelengths.iter().any(|w| !w.is_finite()) {
        return Err("model file's wavelengths are missing or not finite".into());
    }
    if file.trees.is_empty() {
        return Err("model file has no trees".into());
    }
    for (t, tree) in file.trees.iter().enumerate() {
        check_tree(tree, classes, features).map_err(|e| format!("model file, tree {t}: {e}"))?;
    }
    Ok(Model {
        forest: Forest { classes, features, trees: file.trees },
        class_names: file.classes,
        wavelengths: file.wavelengths,
    })
}

fn check_tree(tree: &Tree, classes: usize, features: usize) -> Result<(), String> {
    let internal = tree.feature.len();
    if tree.threshold.len() != internal || tree.left.len() != internal || tree.right.len() != internal {
        return Err("feature, threshold, left and right differ in length".into());
    }
    if tree.leaves.is_empty() || !tree.leaves.len().is_multiple_of(classes) {
        return Err(format!("{} leaf values is not a positive multiple of {classes} classes", tree.leaves.len()));
    }
    let leaves = tree.leaves.len() / classes;
    if let Some(f) = tree.feature.iter().find(|&&f| f as usize >= features) {
        return Err(format!("feature {f} out of range (the model has {features})"));
    }
    if tree.threshold.iter().chain(&tree.leaves).any(|v| !v.is_finite()) {
        return Err("a threshold or leaf value is not finite".into());
    }
    for (i, (&l, &r)) in tree.left.iter().zip(&tree.right).enumerate() {
        for child in [l, r] {
            let ok = if child >= 0 {
                (child as usize) > i && (child as usize) < internal
            } else {
                ((-1 - child) as usize) < leaves
            };
            if !ok {
                return Err(format!("node {i} has child {child}, out of order or out of range"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let tree = Tree {
            feature: vec![1],
            threshold: vec![0.5],
            left: vec![-1],
            right: vec![-2],
            leaves: vec![1.0, 0.0, 0.25, 0.75],
        };
        Model {
            forest: Forest { classes: 2, features: 2, trees: vec![tree] },
            class_names: vec!["a".into(), "b".into()],
            wavelengths: vec![5000.0, 5001.0],
        }
    }

    #[test]
    fn a_saved_model_loads_back_equal() {
        let bytes = save(&model(), serde_json::json!({"cv_accuracy": 0.9}));
        assert_eq!(load(&bytes).unwrap(), model());
    }

    #[test]
    fn foreign_and_hostile_files_are_refused_with_a_reason() {
        let good: serde_json::Value = serde_json::from_slice(&save(&model(), serde_json::Value::Null)).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            f(&mut v);
            serde_json::to_vec(&v).unwrap()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"SIMPLE  =                    T".to_vec(), "not a vocloud model file"),
            (b"{\"format\": \"sklearn\"}".to_vec(), "\"format\" is Some(\"sklearn\")"),
            (edit(&|v| v["version"] = 2.into()), "version 2"),
            (edit(&|v| v["trees"][0]["left"][0] = 0.into()), "out of order"),
            (edit(&|v| v["trees"][0]["right"][0] = (-9).into()), "out of range"),
            (edit(&|v| v["trees"][0]["feature"][0] = 7.into()), "feature 7 out of range"),
            (edit(&|v| v["trees"][0]["leaves"] = serde_json::json!([1.0, 0.0, 0.5])), "not a positive multiple"),
            (edit(&|v| v["trees"][0]["threshold"] = serde_json::json!([])), "differ in length"),
            (edit(&|v| v["classes"] = serde_json::json!(["only"])), "1 classes"),
            (edit(&|v| v["trees"] = serde_json::json!([])), "no trees"),
            (b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec(), "not a vocloud model file"),
        ];
        for (bytes, expected) in cases {
            let err = load(&bytes).unwrap_err();
            assert!(err.contains(expected), "'{err}' lacks '{expected}'");
        }
    }
}
