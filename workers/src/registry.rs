//! The object-safe face of a [`Kind`], and the registry of all kinds this build knows.
//!
//! The master validates parameters and estimates resources through it at job creation;
//! `run-job` runs jobs through it from the `params.json` snapshot the master wrote.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{Failure, JobContext, Kind, Outputs, ParamError, ParamSpec, RawParams, Resources, params};

/// A job kind with its parameter type erased.
pub trait DynKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn parameters(&self) -> Vec<ParamSpec>;
    /// Checks raw values and returns the typed, complete parameter object (stored in params.json).
    fn validate(&self, raw: &RawParams) -> Result<Map<String, Value>, ParamError>;
    /// Runs the job from a parameter object produced by [`DynKind::validate`].
    fn run(&self, params: &Map<String, Value>, ctx: &JobContext) -> Result<Outputs, Failure>;
    /// What a run with these parameters and the owner's inputs needs ([`Kind::resources`]).
    fn resources(&self, params: &Map<String, Value>, user_dir: &std::path::Path) -> Resources;
    /// See [`Kind::USES_QUOTA`].
    fn uses_quota(&self) -> bool;
    /// See [`Kind::RUNS_USER_CODE`].
    fn runs_user_code(&self) -> bool;
    /// [`Kind::check_inputs`] on validated parameters and the owner's storage folder.
    fn check_inputs(&self, params: &Map<String, Value>, user_dir: &std::path::Path) -> Result<(), ParamError>;
}

struct Erased<K>(std::marker::PhantomData<K>);

impl<K: Kind> Erased<K> {
    fn typed(params: &Map<String, Value>) -> Result<K::Params, String> {
        serde_json::from_value(Value::Object(params.clone())).map_err(|e| e.to_string())
    }
}

impl<K: Kind> DynKind for Erased<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn description(&self) -> &'static str {
        K::DESCRIPTION
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        K::parameters()
    }

    fn validate(&self, raw: &RawParams) -> Result<Map<String, Value>, ParamError> {
        let object = params::validate(&K::parameters(), raw)?;
        let typed = Self::typed(&object).map_err(|reason| ParamError::Invalid { name: K::NAME.into(), reason })?;
        K::check(&typed)?;
        Ok(object)
    }

    fn run(&self, params: &Map<String, Value>, ctx: &JobContext) -> Result<Outputs, Failure> {
        let typed = Self::typed(params).map_err(|e| Failure::fatal("params.json", e))?;
        K::run(typed, ctx)
    }

    fn resources(&self, params: &Map<String, Value>, user_dir: &std::path::Path) -> Resources {
        Self::typed(params).map(|p| K::resources(&p, user_dir)).unwrap_or_default()
    }

    fn uses_quota(&self) -> bool {
        K::USES_QUOTA
    }

    fn runs_user_code(&self) -> bool {
        K::RUNS_USER_CODE
    }

    fn check_inputs(&self, params: &Map<String, Value>, user_dir: &std::path::Path) -> Result<(), ParamError> {
        let typed = Self::typed(params).map_err(|reason| ParamError::Invalid { name: K::NAME.into(), reason })?;
        K::check_inputs(&typed, user_dir)
    }
}

/// All job kinds, looked up by name.
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<Arc<dyn DynKind>>,
}

impl Registry {
    /// Every kind this build of vocloud provides.
    pub fn builtin() -> Self {
        let mut registry = Registry { kinds: Vec::new() };
        registry.add::<crate::diag::Diag>();
        registry.add::<crate::ocean::timeseries::OceanTimeseries>();
        registry.add::<crate::ocean::timeavg::OceanTimeavg>();
        registry.add::<crate::ocean::dda::OceanDda>();
        registry.add::<crate::ocean::subset::OceanSubset>();
        registry.add::<crate::ocean::maps::OceanMaps>();
        registry.add::<crate::ocean::merge::OceanMerge>();
        registry.add::<crate::import::Import>();
        registry.add::<crate::som::Som>();
        registry.add::<crate::ml::kinds::preprocess::Preprocess>();
        registry.add::<crate::ml::kinds::kmeans::Kmeans>();
        registry.add::<crate::ml::kinds::pca::Pca>();
        registry.add::<crate::ml::kinds::classify::Classify>();
        registry.add::<crate::ml::kinds::outliers::Outliers>();
        registry.add::<crate::spark::Spark>();
        registry
    }

    pub fn add<K: Kind>(&mut self) {
        self.kinds.push(Arc::new(Erased::<K>(std::marker::PhantomData)));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn DynKind>> {
        self.kinds.iter().find(|k| k.name() == name).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn DynKind>> {
        self.kinds.iter()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }
}
