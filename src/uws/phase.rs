//! UWS execution phases (UWS 1.1 §2.1.3) with their wire spellings.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionPhase {
    Pending,
    Queued,
    Executing,
    Completed,
    Error,
    Aborted,
    Unknown,
    Held,
    Suspended,
    Archived,
}

use ExecutionPhase::*;

impl ExecutionPhase {
    pub const ALL: [ExecutionPhase; 10] =
        [Pending, Queued, Executing, Completed, Error, Aborted, Unknown, Held, Suspended, Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            Pending => "PENDING",
            Queued => "QUEUED",
            Executing => "EXECUTING",
            Completed => "COMPLETED",
            Error => "ERROR",
            Aborted => "ABORTED",
            Unknown => "UNKNOWN",
            Held => "HELD",
            Suspended => "SUSPENDED",
            Archived => "ARCHIVED",
        }
    }

    /// Phases in which a blocking WAIT may hold the request (UWS 2.2.1.2; vocloud blocks in
    /// PENDING too).
    pub fn is_active(self) -> bool {
        matches!(self, Pending | Queued | Executing | Held | Suspended)
    }

    /// COMPLETED, ERROR and ABORTED never change again (except to ARCHIVED).
    pub fn is_terminal(self) -> bool {
        matches!(self, Completed | Error | Aborted | Archived)
    }
}

impl fmt::Display for ExecutionPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown phase '{0}' (expected one of PENDING, QUEUED, EXECUTING, COMPLETED, ERROR, ABORTED, UNKNOWN, HELD, SUSPENDED, ARCHIVED)"
)]
pub struct UnknownPhase(pub String);

impl FromStr for ExecutionPhase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionPhase::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPhase(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spellings_round_trip_and_lower_case_is_refused() {
        for phase in ExecutionPhase::ALL {
            assert_eq!(phase.as_str().parse::<ExecutionPhase>().unwrap(), phase);
        }
        assert!("run".parse::<ExecutionPhase>().is_err());
        assert!("queued".parse::<ExecutionPhase>().is_err());
    }

    #[test]
    fn active_and_terminal_partition_the_real_phases() {
        for phase in ExecutionPhase::ALL {
            if phase != Unknown {
                assert_ne!(phase.is_active(), phase.is_terminal(), "{phase}");
            }
        }
    }
}
