mod auth;
mod logins;
mod security_auth;
mod tokens;
