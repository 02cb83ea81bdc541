//! Identifiers and the view of a job that the protocol layers render.

use rand::Rng;
use serde_json::{Map, Value};
use vocloud_workers::ResultFile;

pub use crate::db::jobs::{JobRef, JobRow, Lease, ListFilter};
use crate::uws::ExecutionPhase;

/// A job id: 12 characters, a digit then lower-case letters and digits. URL-safe, and never
/// starting with h, t, p or s, which uws-client strips from redirect paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    pub fn generate() -> JobId {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::thread_rng();
        let mut id = String::with_capacity(12);
        id.push(char::from(b'0' + rng.gen_range(0..10u8)));
        for _ in 0..11 {
            id.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
        }
        JobId(id)
    }

    /// Accepts what [`JobId::generate`] produces; anything else cannot name a job.
    pub fn parse(text: &str) -> Option<JobId> {
        let ok = text.len() == 12
            && text.as_bytes()[0].is_ascii_digit()
            && text.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        ok.then(|| JobId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub name: String,
    pub is_admin: bool,
}

impl Caller {
    /// Whether this caller may see and touch a job owned by `owner_id`.
    pub fn may_access(&self, owner_id: i64) -> bool {
        self.is_admin || self.user_id == owner_id
    }
}

/// A job with its parsed phase, as the protocol layers render it.
#[derive(Debug, Clone)]
pub struct JobView {
    pub row: JobRow,
    pub phase: ExecutionPhase,
}

/// One parameter as UWS shows it: the value as the client posted it, or the kind's default.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownParameter {
    pub name: String,
    pub value: String,
    /// True when the client gave this value (UWS `isPost`); false for a default.
    pub is_post: bool,
}

impl JobView {
    pub fn new(row: JobRow) -> JobView {
        let phase = row.phase.parse().unwrap_or(ExecutionPhase::Unknown);
        JobView { row, phase }
    }

    /// The validated parameters (typed values, defaults filled in) the job runs with.
    pub fn parameters(&self) -> Map<String, Value> {
        serde_json::from_str(&self.row.parameters).unwrap_or_default()
    }

    /// The parameters as the client posted them (name → text).
    pub fn posted_parameters(&self) -> Map<String, Value> {
        match &self.row.posted_parameters {
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            // Jobs from before posted values were kept: their typed values stand in.
            None => self.parameters().into_iter().map(|(k, v)| (k, Value::String(display(&v)))).collect(),
        }
    }

    /// Every parameter by name: posted values exactly as sent, defaults marked as such.
    pub fn shown_parameters(&self) -> Vec<ShownParameter> {
        let posted = self.posted_parameters();
        self.parameters()
            .into_iter()
            .map(|(name, typed)| match posted.get(&name) {
                Some(value) => ShownParameter { value: display(value), name, is_post: true },
                None => ShownParameter { value: display(&typed), name, is_post: false },
            })
            .collect()
    }

    /// The result files the kind declared, with their MIME types.
    pub fn declared_results(&self) -> Vec<ResultFile> {
        self.row.results.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
    }
}

fn display(value: &Value) -> String {
    vocloud_workers::params::display_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_avoid_letters_uws_client_strips() {
        for _ in 0..1000 {
            let id = JobId::generate();
            assert!(JobId::parse(id.as_str()).is_some(), "{id}");
            assert!(!"htps".contains(id.as_str().chars().next().unwrap()));
        }
        for bad in ["", "abc", "0123456789AB", "0123456789a/", "h12345678901"] {
            assert!(JobId::parse(bad).is_none(), "{bad}");
        }
    }
}
