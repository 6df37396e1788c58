//! The web client is served by the binary itself: the page at `/` and at
//! `/r/{code}`, its files under `/assets/`, with headers a browser can trust.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use watchparty_testkit::{StatusCode, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_with_safe_headers() {
    let server = TestServer::start().await;
    let http = &server.client().http;
    for path in ["/", "/r/K7Q2M9XAPD", "/r/k7q2m9xapd/"] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let headers = res.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let body = res.text().await.unwrap();
        assert!(body.contains(r#"<script type="module" src="/assets/app.js">"#));
    }
    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("room.js", "text/javascript; charset=utf-8"),
        ("people.js", "text/javascript; charset=utf-8"),
        ("queue.js", "text/javascript; charset=utf-8"),
        ("telemetry.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let res = http
            .get(server.url(&format!("/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert_eq!(res.headers()["content-type"], kind, "{file}");
        assert!(!res.bytes().await.unwrap().is_empty());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_file_answers_304_and_unknown_files_404() {
    let server = TestServer::start().await;
    let http = &server.client().http;
    let first = http.get(server.url("/assets/app.js")).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let again = http
        .get(server.url("/assets/app.js"))
        .header("If-None-Match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let client = server.client();
    for path in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        // The type declarations and the checker's config sit beside the
        // scripts for tsc only: never compiled in, never served.
        "/assets/protocol.d.ts",
        "/assets/api-types.d.ts",
        "/assets/tsconfig.json",
        "/r/",
        "/r/ABC/extra",
    ] {
        let (status, body) = client.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let (status, body) = client.post("/", serde_json::json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    server.stop().await;
}
