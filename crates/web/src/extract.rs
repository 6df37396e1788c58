//! The logged-in caller of a request, as one extractor.

use crate::client::ClientInfo;
use crate::error::ApiError;
use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use std::future::{ready, Ready};
use watchparty_service::{Caller, ServiceError};

/// The session entry naming the logged-in user (the session store reads it too).
pub(crate) const USER_KEY: &str = "user_id";

/// A request from a logged-in user: who they are (from the session cookie)
/// and where they connect from. A handler that takes one answers 401 to
/// everybody else before it runs.
#[derive(Debug, Clone)]
pub(crate) struct LoggedIn(pub(crate) Caller);

impl FromRequest for LoggedIn {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = req.get_session().get::<i64>(USER_KEY).ok().flatten();
        ready(match user {
            Some(user) => Ok(LoggedIn(Caller::new(user, ClientInfo::of(req).ip))),
            None => Err(ServiceError::NotAuthenticated.into()),
        })
    }
}
