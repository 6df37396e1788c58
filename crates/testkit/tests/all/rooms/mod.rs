mod http_abuse;
mod over_http;
