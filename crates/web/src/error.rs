//! Every failure becomes the protocol's `{"error": {"code", "message", "request_id"}}` ([`ErrorBody`]), here and only here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use watchparty_protocol::http::ErrorBody;
use watchparty_service::ServiceError;

/// An HTTP failure: a status, a stable code, and text for humans.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    // `banned` answers say until when (null: until lifted).
    until: Option<Option<String>>,
}

impl ApiError {
    /// A failure with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            until: None,
        }
    }

    /// 400 `validation_error`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }
}

impl From<ServiceError> for ApiError {
    /// The one place a service failure meets HTTP: a dependency's failure is
    /// logged here, with its whole cause, inside the request's span.
    fn from(e: ServiceError) -> Self {
        if let Some(cause) = e.cause_chain() {
            match &e {
                ServiceError::Unavailable(_) => tracing::warn!(error = %e, cause, "request failed"),
                _ => tracing::error!(error = %e, cause, "request failed"),
            }
        }
        let (status, code) = match &e {
            ServiceError::Validation(_) => (StatusCode::BAD_REQUEST, "validation_error"),
            ServiceError::NotAuthenticated => (StatusCode::UNAUTHORIZED, "not_authenticated"),
            ServiceError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ServiceError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ServiceError::NotHost => (StatusCode::FORBIDDEN, "not_host"),
            ServiceError::NotOwner => (StatusCode::FORBIDDEN, "not_owner"),
            ServiceError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ServiceError::Conflict => (StatusCode::CONFLICT, "conflict"),
            ServiceError::NotConnected => (StatusCode::CONFLICT, "not_connected"),
            ServiceError::TargetOutranks => (StatusCode::FORBIDDEN, "target_outranks"),
            ServiceError::Banned { .. } => (StatusCode::FORBIDDEN, "banned"),
            ServiceError::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            ServiceError::StaleVersion => (StatusCode::CONFLICT, "stale_version"),
            ServiceError::QueueFull(_) => (StatusCode::CONFLICT, "queue_full"),
            ServiceError::RoomClosed => (StatusCode::GONE, "room_closed"),
            ServiceError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ServiceError::TooManySockets => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
            ServiceError::Unavailable(_) | ServiceError::Busy => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let until = match &e {
            ServiceError::Banned { until } => Some(until.clone()),
            _ => None,
        };
        ApiError {
            until,
            ..ApiError::new(status, code, e.to_string())
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        // The id of the request being served (none outside the request log).
        let mut body = ErrorBody::new(
            self.code,
            self.message.clone(),
            crate::request_log::current(),
        );
        body.error.until = self.until.clone();
        HttpResponse::build(self.status).json(body)
    }
}
