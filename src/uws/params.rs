//! UWS control parameters (PHASE, ACTION, WAIT, AFTER, LAST, DESTRUCTION, EXECUTIONDURATION,
//! RUNID, and vocloud's EXPERIMENT), parsed from query strings and form bodies.
//!
//! Names are matched case-insensitively (the DALI rule; uws-client sends `executionDuration`);
//! values of PHASE and ACTION are upper case as the standard spells them. Every malformed value
//! is an error naming the parameter and what was expected.

use super::ExecutionPhase;
use super::time::parse_ms;

/// Why a request's parameters were refused (HTTP 400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadParameter(pub String);

fn bad(message: impl Into<String>) -> BadParameter {
    BadParameter(message.into())
}

/// Decodes an `application/x-www-form-urlencoded` string into ordered (name, value) pairs,
/// keeping repeats (PHASE may be repeated on job lists).
pub fn decode(text: &str) -> Result<Vec<(String, String)>, BadParameter> {
    serde_urlencoded::from_str(text).map_err(|e| bad(format!("malformed form data: {e}")))
}

/// The values of parameter `name` (case-insensitive).
pub fn values<'a>(pairs: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The single value of `name`; given twice is an error.
pub fn single<'a>(pairs: &'a [(String, String)], name: &'a str) -> Result<Option<&'a str>, BadParameter> {
    let mut found = values(pairs, name);
    let first = found.next();
    if found.next().is_some() {
        return Err(bad(format!("{name} is given more than once")));
    }
    Ok(first)
}

/// What a client may ask for at creation besides the kind's own parameters (UWS 2.2.3.1:
/// control parameters in the job description use the standard names).
#[derive(Debug, Default, Clone)]
pub struct Control {
    /// PHASE=RUN: queue the job at once.
    pub run: bool,
    pub run_id: Option<String>,
    /// vocloud: the experiment the job joins, created on first use.
    pub experiment: Option<String>,
    pub execution_duration: Option<i64>,
    /// Unix milliseconds.
    pub destruction: Option<i64>,
}

const CONTROL_NAMES: [&str; 6] = ["PHASE", "RUNID", "EXPERIMENT", "EXECUTIONDURATION", "DESTRUCTION", "ACTION"];

/// Splits a creation request into control parameters and the kind's parameters (names
/// lower-cased, as kinds declare them).
pub fn split_creation(pairs: Vec<(String, String)>) -> Result<(Control, Vec<(String, String)>), BadParameter> {
    let mut control = Control::default();
    if let Some(phase) = single(&pairs, "PHASE")? {
        if phase != "RUN" {
            return Err(bad(format!("PHASE at job creation must be RUN, got '{phase}'")));
        }
        control.run = true;
    }
    if single(&pairs, "ACTION")?.is_some() {
        return Err(bad("ACTION is not allowed at job creation"));
    }
    control.run_id = single(&pairs, "RUNID")?.map(|v| text(v, "RUNID", 256)).transpose()?;
    control.experiment = single(&pairs, "EXPERIMENT")?.map(experiment_name).transpose()?;
    control.execution_duration = single(&pairs, "EXECUTIONDURATION")?.map(execution_duration).transpose()?;
    control.destruction = single(&pairs, "DESTRUCTION")?.map(destruction).transpose()?;
    let rest = pairs
        .into_iter()
        .filter(|(n, _)| !CONTROL_NAMES.iter().any(|c| c.eq_ignore_ascii_case(n)))
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    Ok((control, rest))
}

/// Whether `name` is a UWS control parameter (not a kind parameter).
pub fn is_control(name: &str) -> bool {
    CONTROL_NAMES.iter().any(|c| c.eq_ignore_ascii_case(name))
}

fn text(value: &str, name: &str, max: usize) -> Result<String, BadParameter> {
    if value.len() > max || value.chars().any(|c| c.is_control()) {
        return Err(bad(format!("{name} must be at most {max} bytes of text without control characters")));
    }
    Ok(value.to_string())
}

/// An experiment name: 1 to 100 characters, no control characters, no leading/trailing blanks.
pub fn experiment_name(value: &str) -> Result<String, BadParameter> {
    let name = value.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(|c| c.is_control()) {
        return Err(bad("EXPERIMENT must be 1 to 100 characters without control characters"));
    }
    Ok(name.to_string())
}

/// EXECUTIONDURATION: whole seconds, 0 meaning unlimited.
pub fn execution_duration(value: &str) -> Result<i64, BadParameter> {
    value.trim().parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
        bad(format!("EXECUTIONDURATION must be a non-negative integer number of seconds, got '{value}'"))
    })
}

/// DESTRUCTION: an ISO 8601 instant.
pub fn destruction(value: &str) -> Result<i64, BadParameter> {
    parse_ms(value).ok_or_else(|| {
        bad(format!("DESTRUCTION must be an ISO 8601 instant such as 2030-01-01T00:00:00Z, got '{value}'"))
    })
}

/// A PHASE action posted to a job: RUN or ABORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseAction {
    Run,
    Abort,
}

pub fn phase_action(value: &str) -> Result<PhaseAction, BadParameter> {
    match value {
        "RUN" => Ok(PhaseAction::Run),
        "ABORT" => Ok(PhaseAction::Abort),
        other => Err(bad(format!("PHASE must be RUN or ABORT, got '{other}'"))),
    }
}

/// The blocking request of a job GET (UWS 2.2.1.2).
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub seconds: u64,
    pub phase: Option<ExecutionPhase>,
}

/// WAIT (and PHASE) from a job GET's query; `max` caps the wait and stands for WAIT=-1.
pub fn wait(pairs: &[(String, String)], max: u64) -> Result<Option<Wait>, BadParameter> {
    let Some(text) = single(pairs, "WAIT")? else {
        return Ok(None);
    };
    let n: i64 =
        text.trim().parse().map_err(|_| bad(format!("WAIT must be an integer number of seconds, got '{text}'")))?;
    let seconds = match n {
        -1 => max,
        n if n < -1 => return Err(bad(format!("WAIT must be -1 or at least 0, got {n}"))),
        n => (n as u64).min(max),
    };
    let phase = single(pairs, "PHASE")?.map(phase_filter).transpose()?;
    Ok(Some(Wait { seconds, phase }))
}

fn phase_filter(value: &str) -> Result<ExecutionPhase, BadParameter> {
    value.parse().map_err(|e: super::phase::UnknownPhase| bad(format!("PHASE: {e}")))
}

/// Filters of a job-list GET (UWS 2.2.2.1).
#[derive(Debug, Default)]
pub struct ListQuery {
    pub phases: Vec<ExecutionPhase>,
    pub after: Option<i64>,
    pub last: Option<i64>,
}

/// Most PHASE values a job list takes. There are ten phases; a union of all of them, written out
/// a few times, still fits, while thousands (an oversized query) are refused up front.
pub const MAX_PHASE_FILTERS: usize = 50;

pub fn list_query(pairs: &[(String, String)]) -> Result<ListQuery, BadParameter> {
    let given = values(pairs, "PHASE").count();
    if given > MAX_PHASE_FILTERS {
        return Err(bad(format!("PHASE is given {given} times; at most {MAX_PHASE_FILTERS} (there are ten phases)")));
    }
    let mut phases = Vec::new();
    for phase in values(pairs, "PHASE").map(phase_filter) {
        let phase = phase?;
        if !phases.contains(&phase) {
            phases.push(phase);
        }
    }
    let after = single(pairs, "AFTER")?
        .map(|v| parse_ms(v).ok_or_else(|| bad(format!("AFTER must be an ISO 8601 instant, got '{v}'"))))
        .transpose()?;
    let last = single(pairs, "LAST")?
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("LAST must be an integer greater than 0, got '{v}'")))
        })
        .transpose()?;
    Ok(ListQuery { phases, after, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        decode(text).unwrap()
    }

    #[test]
    fn creation_splits_control_from_kind_parameters_case_insensitively() {
        let (control, rest) =
            split_creation(pairs("phase=RUN&runId=r1&executionDuration=30&Duration=2&EXPERIMENT=e1")).unwrap();
        assert!(control.run);
        assert_eq!(control.run_id.as_deref(), Some("r1"));
        assert_eq!(control.execution_duration, Some(30));
        assert_eq!(control.experiment.as_deref(), Some("e1"));
        assert_eq!(rest, vec![("duration".to_string(), "2".to_string())]);
    }

    #[test]
    fn malformed_control_values_are_refused_with_the_name() {
        for (query, expected) in [
            ("PHASE=ABORT", "PHASE at job creation must be RUN"),
            ("EXECUTIONDURATION=-5", "EXECUTIONDURATION must be a non-negative integer"),
            ("EXECUTIONDURATION=ten", "EXECUTIONDURATION must be"),
            ("DESTRUCTION=tomorrow", "DESTRUCTION must be an ISO 8601"),
            ("RUNID=a&RUNID=b", "RUNID is given more than once"),
        ] {
            let err = split_creation(pairs(query)).unwrap_err().to_string();
            assert!(err.contains(expected), "{query}: {err}");
        }
    }

    #[test]
    fn wait_is_capped_and_checked() {
        assert_eq!(wait(&pairs("WAIT=-1"), 60).unwrap().unwrap().seconds, 60);
        assert_eq!(wait(&pairs("WAIT=600"), 60).unwrap().unwrap().seconds, 60);
        assert_eq!(wait(&pairs("WAIT=5&PHASE=QUEUED"), 60).unwrap().unwrap().phase, Some(ExecutionPhase::Queued));
        assert!(wait(&pairs("WAIT=-2"), 60).is_err());
        assert!(wait(&pairs("WAIT=soon"), 60).is_err());
        assert!(wait(&pairs("WAIT=1&PHASE=RUNNING"), 60).is_err());
        assert!(wait(&pairs(""), 60).unwrap().is_none());
    }

    #[test]
    fn list_filters_are_checked() {
        let q = list_query(&pairs("PHASE=QUEUED&phase=COMPLETED&LAST=3&AFTER=2020-01-01T00:00:00")).unwrap();
        assert_eq!(q.phases, vec![ExecutionPhase::Queued, ExecutionPhase::Completed]);
        assert_eq!(q.last, Some(3));
        assert!(q.after.is_some());
        assert!(list_query(&pairs("LAST=0")).is_err());
        assert!(list_query(&pairs("PHASE=queued")).is_err());
        let repeated = "PHASE=QUEUED&".repeat(40) + "PHASE=ERROR";
        assert_eq!(list_query(&pairs(&repeated)).unwrap().phases, vec![ExecutionPhase::Queued, ExecutionPhase::Error]);
        let flood = "PHASE=QUEUED&".repeat(5000);
        assert!(list_query(&pairs(&flood)).unwrap_err().to_string().contains("given 5000 times"));
        assert!(list_query(&pairs("AFTER=yesterday")).is_err());
    }
}
