mod http_abuse;
pub(crate) mod joins;
mod over_http;
