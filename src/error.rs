//! `ApiError`: the one error type handlers return, and its HTTP form — the one place where each
//! layer's typed errors (`jobs::Error`, the fleet's `Error`, `uws` and `storage` errors) get
//! their status codes.
//!
//! Bodies are short `text/plain` messages that say what was wrong; internal errors show only
//! "internal error" while their cause chain is logged.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Valid request, but not allowed in the resource's current state (UWS: 403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many requests of one kind (registrations, failed passwords); the client may retry
    /// after the given time.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: std::time::Duration },
    /// Overloaded right now (the password check queue is full): 503 with `Retry-After: 1`.
    #[error("{0}")]
    Busy(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"vocloud\", charset=\"UTF-8\""),
            ));
        }
        match self {
            ApiError::TooManyRequests { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1).to_string()));
            }
            ApiError::Busy(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.body(format!("{self}\n"))
    }
}

impl From<crate::jobs::Error> for ApiError {
    fn from(e: crate::jobs::Error) -> Self {
        use crate::jobs::Error as E;
        let message = e.to_string();
        match e {
            E::NotFound | E::NoExperiment(_) => ApiError::NotFound(message),
            E::Parameter(_) | E::BadRequest(_) | E::MissingInput { .. } | E::TooMuchMemory { .. } => {
                ApiError::BadRequest(message)
            }
            E::NotAllowed { .. } | E::OverQuota { .. } | E::NeedsGrant { .. } => ApiError::Forbidden(message),
            E::LeaseLost { .. } | E::ExperimentExists(_) | E::ExperimentBusy { .. } => ApiError::Conflict(message),
            E::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::executors::fleet::Error> for ApiError {
    fn from(e: crate::executors::fleet::Error) -> Self {
        use crate::executors::fleet::Error as E;
        let message = e.to_string();
        match e {
            E::NoToken | E::BadToken | E::UnknownWorker => ApiError::Unauthorized(message),
            E::MalformedWorkerId | E::BadRegistration(_) => ApiError::BadRequest(message),
            E::ForeignStorage => ApiError::Forbidden(message),
            E::TooManyRegistrations { retry_after, .. } => ApiError::TooManyRequests { message, retry_after },
            E::Jobs(e) => e.into(),
        }
    }
}

impl From<crate::uws::params::BadParameter> for ApiError {
    fn from(e: crate::uws::params::BadParameter) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl From<crate::storage::PathError> for ApiError {
    fn from(e: crate::storage::PathError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

pub type ApiResult<T = HttpResponse> = Result<T, ApiError>;
