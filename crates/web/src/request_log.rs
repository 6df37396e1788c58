//! One id per request: in every log line the request causes, in the
//! `X-Request-Id` header, and in every error body, so that a user's report
//! ("request_id 3f9c…") leads to the server's log of it.

use crate::client::ClientInfo;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;

/// The response header that carries the id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being served, for the error bodies built while
    /// serving it ([`crate::ApiError`] reads it).
    static REQUEST_ID: String;
}

/// The id of the request being served, if any.
pub(crate) fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Logs each request, without its query string (`?token=` never reaches a
/// log), inside a span that carries its id, and stamps the id on the answer.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let client = ClientInfo::of(req.request()).ip;
    let span = tracing::info_span!("request", request_id = %id);
    let served = REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let log = |status: u16| {
        span.in_scope(|| {
            tracing::info!(
                target: "watchparty::access",
                %client, %method, %path, status,
                ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
            );
        });
    };
    match served {
        Ok(mut res) => {
            log(res.status().as_u16());
            tag(res.headers_mut(), &id);
            Ok(res)
        }
        // A middleware that failed without an answer (the session store
        // away): its answer is rendered here, where the id is known.
        Err(error) => {
            let mut response = REQUEST_ID.sync_scope(id.clone(), || error.error_response());
            log(response.status().as_u16());
            tag(response.headers_mut(), &id);
            Err(actix_web::error::InternalError::from_response(error, response).into())
        }
    }
}

/// Puts the request's id in the answer's `X-Request-Id`.
fn tag(headers: &mut HeaderMap, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
}
