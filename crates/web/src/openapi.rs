//! The OpenAPI 3.1 document of every HTTP endpoint, generated with utoipa
//! from the handlers' `#[utoipa::path]` attributes and the protocol crate's
//! body types. Served at `/api/openapi.json`, checked in as
//! `docs/openapi.json`.
//!
//! Each handler's attribute lists the refusals particular to it (from
//! docs/protocol.md); [`CommonRules`] adds those that docs/protocol.md states
//! once for all endpoints (the body rules, the cross-site guard, the store
//! being away), and gives every error answer the error body and the list of
//! its codes (`x-error-codes`), read from the backquoted codes its
//! description starts with.

use crate::{queue, routes, together, ws, SESSION_COOKIE};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};
use watchparty_protocol::http::ErrorBody;

/// The name of the session-cookie security scheme (the handlers' `security`
/// attributes spell it out: utoipa wants a literal there).
pub(crate) const SESSION_SCHEME: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "watchparty",
        description = "The HTTP endpoints of watchparty, a watch-together server. \
            docs/protocol.md is the full reference, rules included; the WebSocket \
            messages are described by /api/ws-schema.json. A path answers the same \
            with or without its trailing slash; another method on a known path is \
            405 `method_not_allowed` with `Allow`. Every failure answers \
            `{\"error\": {\"code\", \"message\", \"request_id\"}}`; each error answer \
            lists its possible codes in `x-error-codes`."
    ),
    paths(
        routes::register,
        routes::login,
        routes::logout,
        routes::me,
        routes::token,
        routes::create_room,
        routes::public_rooms,
        routes::get_room,
        routes::update_room,
        routes::delete_room,
        routes::join_room,
        routes::messages,
        together::participants,
        together::set_role,
        together::change_host,
        together::kick,
        together::ban,
        together::bans,
        together::unban,
        together::mute,
        together::unmute,
        together::audit,
        queue::list,
        queue::add,
        queue::remove,
        queue::move_item,
        queue::vote,
        queue::unvote,
        queue::advance,
        ws::room_socket,
        routes::ws_schema,
        routes::openapi,
        routes::healthz,
        routes::readyz,
        routes::metrics,
    ),
    components(schemas(ErrorBody)),
    modifiers(&CommonRules),
    tags(
        (name = "accounts", description = "Registration, login and WebSocket tokens"),
        (name = "rooms", description = "Rooms, membership and chat history"),
        (name = "together", description = "Roles, host changes and moderation"),
        (name = "queue", description = "What to watch next, decided together"),
        (name = "realtime", description = "The room WebSocket"),
        (name = "operations", description = "Health, readiness, metrics and the machine-readable documents"),
    )
)]
struct ApiDoc;

/// The document, as served.
pub(crate) fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

/// The rules docs/protocol.md states once for every endpoint.
struct CommonRules;

impl Modify for CommonRules {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by register and login (HttpOnly, SameSite=Lax, \
                 14 days); logout ends it on the server.",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
                (&mut item.delete, true),
            ];
            for (operation, changes_state) in operations {
                let Some(operation) = operation.as_mut() else {
                    continue;
                };
                let responses = &mut operation.responses.responses;
                if operation.request_body.is_some() {
                    add_refusal(responses, "400", "`validation_error`: the body is malformed JSON, larger than 64 KiB, lacks a field or has one of the wrong type or out of its rules");
                    add_refusal(responses, "408", "`request_timeout`: the body did not arrive within 10 s of the request head (the connection is closed)");
                    add_refusal(responses, "415", "`unsupported_media_type`: the body is not `application/json` (or another `+json` type)");
                }
                // Everything but the operators' endpoints reaches the
                // database or Redis.
                let uses_the_store = operation
                    .tags
                    .iter()
                    .flatten()
                    .any(|tag| tag != "operations");
                if uses_the_store {
                    add_refusal(responses, "500", "`internal_error`: something failed inside the server (the details go to its log)");
                    add_refusal(responses, "503", "`unavailable`: the database or Redis did not answer in time; retrying later is safe");
                }
                if changes_state {
                    add_refusal(responses, "403", "`forbidden`: a cross-site request (another `Origin`, or `Sec-Fetch-Site` same-site or cross-site)");
                    if operation.request_body.is_none() {
                        add_refusal(responses, "415", "`unsupported_media_type`: a content type other than `application/json` without a browser's same-origin headers (no body and no content type at all passes)");
                    }
                }
                for response in responses.values_mut() {
                    if let RefOr::T(response) = response {
                        describe_error_body(response);
                    }
                }
            }
        }
    }
}

/// Adds `text` to the refusals under `status`, or makes it the first.
fn add_refusal(
    responses: &mut std::collections::BTreeMap<String, RefOr<Response>>,
    status: &str,
    text: &str,
) {
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            response.description = format!("{}; {text}", response.description);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(status.to_owned(), RefOr::T(Response::new(text)));
        }
    }
}

/// The backquoted error codes of an error answer's description: each
/// refusal in it starts with its code ("`not_host`: …; `forbidden`: …").
pub(crate) fn error_codes(description: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for refusal in description.split("; ") {
        let code = refusal
            .strip_prefix('`')
            .and_then(|rest| rest.split_once('`'))
            .map(|(code, _)| code);
        if let Some(code) = code {
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_owned());
            }
        }
    }
    codes
}

/// An error answer gets the error body and `x-error-codes`; the
/// WebSocket's refusals come before the upgrade, so they are no different.
fn describe_error_body(response: &mut Response) {
    let codes = error_codes(&response.description);
    if codes.is_empty() {
        return;
    }
    if response.content.is_empty() {
        response.content.insert(
            "application/json".to_owned(),
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        );
    }
    let extensions = ExtensionsBuilder::new()
        .add("x-error-codes", serde_json::json!(codes))
        .build();
    match response.extensions.as_mut() {
        Some(existing) => existing.merge(extensions),
        None => response.extensions = Some(extensions),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::{document, error_codes};
    use crate::endpoints::{Audience, ENDPOINTS};
    use std::collections::BTreeSet;

    const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    const PROTOCOL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// The document writes paths as docs/protocol.md does (the API's with a
    /// trailing slash); the table as actix matches them, without.
    fn normalise(path: &str) -> String {
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() { "/" } else { trimmed }.to_owned()
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut pairs = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    pairs.insert((method.to_uppercase(), normalise(path)));
                }
            }
        }
        pairs
    }

    /// The browser client's page and files, deliberately not in the document.
    const NOT_DOCUMENTED: [&str; 3] = ["/", "/r/{code}", "/assets/{name}"];

    /// Every served (method, path) is documented and every documented one is
    /// served: adding a route without its `#[utoipa::path]` (or the reverse)
    /// fails here.
    #[test]
    fn the_document_and_the_route_table_agree() {
        let mut served = BTreeSet::new();
        let mut pages = Vec::new();
        for endpoint in ENDPOINTS {
            if endpoint.audience == Audience::Page {
                pages.push(endpoint.path);
                continue;
            }
            for (verb, _) in endpoint.methods {
                served.insert((verb.as_str().to_owned(), normalise(endpoint.path)));
            }
        }
        assert_eq!(pages, NOT_DOCUMENTED, "the undocumented paths changed");
        let documented = documented();
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(missing.is_empty(), "served but not documented: {missing:?}");
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(extra.is_empty(), "documented but not served: {extra:?}");
        // The two walks saw something: a broken walk must not pass vacuously.
        assert!(served.len() >= 18, "{served:?}");
        assert!(served.contains(&("PATCH".to_owned(), "/api/rooms/{code}".to_owned())));
        assert!(served.contains(&("GET".to_owned(), "/api/openapi.json".to_owned())));
    }

    /// `docs/openapi.json` is what the code generates. Regenerate with
    /// `WATCHPARTY_BLESS=1 cargo test -p watchparty-web --lib openapi`.
    #[test]
    fn the_checked_in_document_is_current() {
        let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
        if std::env::var_os("WATCHPARTY_BLESS").is_some() {
            std::fs::write(CHECKED_IN, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
        assert!(
            checked_in == generated,
            "docs/openapi.json is stale: run WATCHPARTY_BLESS=1 cargo test -p watchparty-web --lib openapi"
        );
    }

    /// The (status, code) rows of docs/protocol.md's Errors table.
    fn protocol_error_table() -> BTreeSet<(String, String)> {
        let text = std::fs::read_to_string(PROTOCOL_MD).unwrap();
        let table = text.split("### Errors").nth(1).unwrap();
        table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let status = cells.get(1)?.parse::<u16>().ok()?;
                let code = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((status.to_string(), code.to_owned()))
            })
            .collect()
    }

    /// Each error answer lists its codes, each code is one of the protocol's
    /// with the status the protocol gives it, and carries the error body.
    #[test]
    fn every_error_answer_names_codes_of_the_protocol() {
        let table = protocol_error_table();
        assert!(table.len() >= 14, "{table:?}");
        let doc = document();
        let mut seen = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let description = response["description"].as_str().unwrap();
                    let is_error = status.as_str() >= "400";
                    // /readyz's 503 is its own status body, not an error.
                    if !is_error || (path == "/readyz" && status == "503") {
                        continue;
                    }
                    let codes = error_codes(description);
                    assert!(!codes.is_empty(), "{method} {path} {status}: no code");
                    assert_eq!(
                        response["x-error-codes"],
                        serde_json::json!(codes),
                        "{method} {path} {status}"
                    );
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                    for code in codes {
                        assert!(
                            table.contains(&(status.clone(), code.clone())),
                            "{method} {path}: {status} `{code}` is not in docs/protocol.md's Errors table"
                        );
                        seen.insert(code);
                    }
                }
            }
        }
        // Every code of the table but the 405 (which no operation has: it
        // answers the methods a path lacks) appears somewhere.
        for (_, code) in &table {
            assert!(
                code == "method_not_allowed" || seen.contains(code),
                "`{code}` appears in no answer"
            );
        }
    }

    /// The endpoints that need a session say so; the public ones do not.
    #[test]
    fn the_session_cookie_is_the_security_scheme() {
        let doc = document();
        let scheme = &doc["components"]["securitySchemes"]["session"];
        assert_eq!(scheme["type"], "apiKey");
        assert_eq!(scheme["in"], "cookie");
        assert_eq!(scheme["name"], crate::SESSION_COOKIE);
        let needs = |method: &str, path: &str| {
            doc["paths"][path][method]["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("session").is_some()))
        };
        for (method, path) in [
            ("get", "/api/auth/me/"),
            ("post", "/api/auth/token/"),
            ("post", "/api/rooms/"),
            ("get", "/api/rooms/{code}/"),
            ("patch", "/api/rooms/{code}/"),
            ("delete", "/api/rooms/{code}/"),
            ("post", "/api/rooms/{code}/join/"),
            ("get", "/api/rooms/{code}/messages/"),
        ] {
            assert!(needs(method, path), "{method} {path}");
        }
        for (method, path) in [
            ("post", "/api/auth/register/"),
            ("post", "/api/auth/login/"),
            ("get", "/api/rooms/public/"),
            ("get", "/ws/rooms/{code}/"),
            ("get", "/healthz"),
        ] {
            assert!(!needs(method, path), "{method} {path}");
        }
    }

    #[test]
    fn codes_are_read_from_the_start_of_each_refusal() {
        assert_eq!(
            error_codes("`not_host`: only the host; `forbidden`: a cross-site `x` request"),
            ["not_host", "forbidden"]
        );
        assert!(error_codes("The room").is_empty());
    }
}
