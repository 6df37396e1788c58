//! One id per request: in every log line the request causes, in the
//! `X-Request-Id` header, and in every error body, so that a user's report
//! ("request_id 3f9c…") leads to the server's log of it.

use crate::client::ClientInfo;
use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;

/// The response header that carries the id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Error bodies are small; anything larger is passed on untouched.
const LARGEST_ERROR_BODY: usize = 64 * 1024;

/// Logs each request, without its query string (`?token=` never reaches a
/// log), inside a span that carries its id, and stamps the id on the answer.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let client = ClientInfo::of(req.request()).ip;
    let span = tracing::info_span!("request", request_id = %id);
    let res = next.call(req).instrument(span.clone()).await?;
    span.in_scope(|| {
        tracing::info!(
            target: "watchparty::access",
            %client, %method, %path,
            status = res.status().as_u16(),
            ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        );
    });
    stamp(res, &id).await
}

/// Adds the id to the headers and, for an error in the API's shape, to its body.
async fn stamp<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    id: &str,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_json_error = res.status().as_u16() >= 400
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
    let mut res = if is_json_error {
        let (req, response) = res.into_parts();
        let (response, body) = response.into_parts();
        let bytes = body::to_bytes_limited(body, LARGEST_ERROR_BODY)
            .await
            .map_err(|_| actix_web::error::ErrorPayloadTooLarge("error body too large"))?
            .map_err(|e| actix_web::error::ErrorInternalServerError(e.into().to_string()))?;
        let stamped = with_request_id(&bytes, id).unwrap_or_else(|| bytes.to_vec());
        ServiceResponse::new(req, response.set_body(BoxBody::new(stamped)))
    } else {
        res.map_into_boxed_body()
    };
    if let Ok(value) = HeaderValue::from_str(id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

/// `{"error": {…}}` with `request_id` added inside `error`; `None` for any
/// other body, which is left as it is.
fn with_request_id(body: &[u8], id: &str) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get_mut("error")?
        .as_object_mut()?
        .insert("request_id".into(), id.into());
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::with_request_id;

    #[test]
    fn the_id_goes_inside_the_error_object() {
        let stamped = with_request_id(
            br#"{"error":{"code":"not_found","message":"not found"}}"#,
            "ab12",
        )
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        assert_eq!(
            stamped,
            Some(
                serde_json::json!({"error": {"code": "not_found", "message": "not found", "request_id": "ab12"}})
            )
        );
        assert_eq!(with_request_id(br#"{"room": {}}"#, "ab12"), None);
        assert_eq!(with_request_id(b"not json", "ab12"), None);
    }
}
