//! The one error every spectra reader returns: which file, what kind of problem (so callers can
//! choose a status code or a retry), and the problem in words.

use crate::Failure;

/// What kind of problem a read hit; decides how callers answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is not what it claims (malformed, lying sizes, no spectra, NaN, …): a 400 on
    /// pages, a fatal job error.
    Invalid,
    /// Reading it would exceed the memory budget or the file limit: a 413, a fatal job error.
    TooLarge,
    /// The file or folder does not exist.
    NotFound,
    /// The operating system failed a read (a flaky mount): worth another attempt.
    Io,
    /// The read saw its cancellation token.
    Cancelled,
}

/// A refused or failed read: `file` is the name the user knows (a user-relative path, or the
/// file's name inside the input folder), `problem` says what was expected and what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ReadError {
    pub file: String,
    pub kind: ErrorKind,
    pub problem: String,
}

impl ReadError {
    pub fn new(file: impl Into<String>, kind: ErrorKind, problem: impl Into<String>) -> ReadError {
        ReadError { file: file.into(), kind, problem: problem.into() }
    }

    pub fn invalid(file: impl Into<String>, problem: impl Into<String>) -> ReadError {
        ReadError::new(file, ErrorKind::Invalid, problem)
    }

    pub fn too_large(file: impl Into<String>, problem: impl Into<String>) -> ReadError {
        ReadError::new(file, ErrorKind::TooLarge, problem)
    }

    /// An I/O error: a missing file is `NotFound`, anything else `Io`.
    pub fn io(file: impl Into<String>, error: &std::io::Error) -> ReadError {
        let kind = if error.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Io };
        ReadError::new(file, kind, error.to_string())
    }

    pub fn cancelled(file: impl Into<String>) -> ReadError {
        ReadError::new(file, ErrorKind::Cancelled, "cancelled")
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        match e.kind {
            ErrorKind::Cancelled => Failure::Cancelled,
            ErrorKind::Io => Failure::Retryable(e.to_string()),
            ErrorKind::Invalid | ErrorKind::TooLarge | ErrorKind::NotFound => Failure::Fatal(e.to_string()),
        }
    }
}

/// A file-level problem before the file name is known to the code that finds it: readers of one
/// format return `Problem`s and [`super::files`] attaches the name.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: ErrorKind,
    pub text: String,
}

impl Problem {
    pub fn invalid(text: impl Into<String>) -> Problem {
        Problem { kind: ErrorKind::Invalid, text: text.into() }
    }

    pub fn too_large(text: impl Into<String>) -> Problem {
        Problem { kind: ErrorKind::TooLarge, text: text.into() }
    }

    pub fn io(error: &std::io::Error) -> Problem {
        let kind = if error.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Io };
        Problem { kind, text: error.to_string() }
    }

    /// The problem, now that the file is known.
    pub fn at(self, file: &str) -> ReadError {
        ReadError::new(file, self.kind, self.text)
    }
}

impl From<String> for Problem {
    fn from(text: String) -> Problem {
        Problem::invalid(text)
    }
}

impl From<&str> for Problem {
    fn from(text: &str) -> Problem {
        Problem::invalid(text)
    }
}
