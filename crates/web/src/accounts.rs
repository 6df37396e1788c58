//! Sessions of accounts an operator disabled end at their next request.

use crate::error::ApiError;
use crate::extract::USER_KEY;
use crate::AppState;
use actix_session::SessionExt;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::HttpMessage;

/// Signs the session out before the handler runs when its account is gone
/// or disabled, so the handler answers 401 as for anyone signed out. Only
/// API requests ask: the page and its files need no account. An account
/// found active is left in the request's extensions ([`watchparty_service::ActiveAccount`]), so
/// that a handler need not ask again.
pub(crate) async fn end_disabled_sessions(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path().starts_with("/api/") {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        if let (Ok(Some(user)), Some(state)) = (session.get::<i64>(USER_KEY), state) {
            match state
                .service
                .active_account(user)
                .await
                .map_err(ApiError::from)?
            {
                Some(account) => {
                    req.extensions_mut().insert(account);
                }
                None => session.purge(),
            }
        }
    }
    next.call(req).await
}
