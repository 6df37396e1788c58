//! `/metrics` on an address of its own (`--metrics-bind`), so the counters an
//! attacker would like to watch (failed logins among them) stay off the
//! public port.

use crate::routes;
use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::TcpListener;
use watchparty_service::Service;

/// Serves `GET /metrics` (and nothing else) on `listener`; the returned
/// server is a future to run, stopped through its handle.
pub(crate) fn serve_metrics(listener: TcpListener, service: Service) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(service.clone()))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(routes::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn metrics(service: web::Data<Service>) -> HttpResponse {
    routes::metrics_text(&service)
}
