mod ops;
mod web_client;
