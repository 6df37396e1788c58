//! Every path the server answers, with its methods and handlers, listed once:
//! [`register`] builds the actix resources from this table (each path's 405
//! and `Allow` included), and the OpenAPI test walks the same table, so a
//! route cannot be served without being documented or documented without
//! being served.

use crate::{assets, queue, routes, together, ws};
use actix_web::http::header::HeaderValue;
use actix_web::{web, Route};

/// A method a path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// As HTTP spells it (`Allow`, the OpenAPI test).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    fn route(self) -> Route {
        match self {
            Verb::Get => web::get(),
            Verb::Post => web::post(),
            Verb::Put => web::put(),
            Verb::Patch => web::patch(),
            Verb::Delete => web::delete(),
        }
    }
}

/// Who a path is for, which decides whether the OpenAPI document lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The API and the operators' endpoints: documented.
    Api,
    /// `/metrics`: documented, but served here only when it has no address
    /// of its own.
    Metrics,
    /// The browser client's page and files (`/`, `/r/{code}`,
    /// `/assets/{name}`): HTML and static files, not API, so deliberately
    /// left out of the document.
    Page,
}

/// Attaches a handler to the route of its method (the method comes from the
/// table, so the two cannot disagree).
type Attach = fn(Route) -> Route;

/// One path and what answers it.
pub(crate) struct Endpoint {
    /// As actix matches it, without a trailing slash (NormalizePath trims
    /// the request's).
    pub(crate) path: &'static str,
    pub(crate) audience: Audience,
    pub(crate) methods: &'static [(Verb, Attach)],
}

impl Endpoint {
    /// The `Allow` header of this path's 405.
    pub(crate) fn allow(&self) -> String {
        let names: Vec<&str> = self.methods.iter().map(|(verb, _)| verb.as_str()).collect();
        names.join(", ")
    }
}

/// The route table, in matching order.
pub(crate) const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/auth/register",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(routes::register))],
    },
    Endpoint {
        path: "/api/auth/login",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(routes::login))],
    },
    Endpoint {
        path: "/api/auth/logout",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(routes::logout))],
    },
    Endpoint {
        path: "/api/auth/me",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::me))],
    },
    Endpoint {
        path: "/api/auth/token",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(routes::token))],
    },
    Endpoint {
        path: "/api/rooms",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(routes::create_room))],
    },
    Endpoint {
        path: "/api/rooms/public",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::public_rooms))],
    },
    Endpoint {
        path: "/api/rooms/{code}",
        audience: Audience::Api,
        methods: &[
            (Verb::Get, |r| r.to(routes::get_room)),
            (Verb::Patch, |r| r.to(routes::update_room)),
            (Verb::Delete, |r| r.to(routes::delete_room)),
        ],
    },
    Endpoint {
        path: "/api/rooms/{code}/join",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(routes::join_room))],
    },
    Endpoint {
        path: "/api/rooms/{code}/messages",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::messages))],
    },
    Endpoint {
        path: "/api/rooms/{code}/participants",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(together::participants))],
    },
    Endpoint {
        path: "/api/rooms/{code}/participants/{user_id}/role",
        audience: Audience::Api,
        methods: &[(Verb::Put, |r| r.to(together::set_role))],
    },
    Endpoint {
        path: "/api/rooms/{code}/host",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(together::change_host))],
    },
    Endpoint {
        path: "/api/rooms/{code}/kicks",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(together::kick))],
    },
    Endpoint {
        path: "/api/rooms/{code}/bans",
        audience: Audience::Api,
        methods: &[
            (Verb::Get, |r| r.to(together::bans)),
            (Verb::Post, |r| r.to(together::ban)),
        ],
    },
    Endpoint {
        path: "/api/rooms/{code}/bans/{user_id}",
        audience: Audience::Api,
        methods: &[(Verb::Delete, |r| r.to(together::unban))],
    },
    Endpoint {
        path: "/api/rooms/{code}/mutes",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(together::mute))],
    },
    Endpoint {
        path: "/api/rooms/{code}/mutes/{user_id}",
        audience: Audience::Api,
        methods: &[(Verb::Delete, |r| r.to(together::unmute))],
    },
    Endpoint {
        path: "/api/rooms/{code}/audit",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(together::audit))],
    },
    Endpoint {
        path: "/api/rooms/{code}/queue",
        audience: Audience::Api,
        methods: &[
            (Verb::Get, |r| r.to(queue::list)),
            (Verb::Post, |r| r.to(queue::add)),
        ],
    },
    // Before `/queue/{item_id}`: "advance" is not an item.
    Endpoint {
        path: "/api/rooms/{code}/queue/advance",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(queue::advance))],
    },
    Endpoint {
        path: "/api/rooms/{code}/queue/{item_id}",
        audience: Audience::Api,
        methods: &[(Verb::Delete, |r| r.to(queue::remove))],
    },
    Endpoint {
        path: "/api/rooms/{code}/queue/{item_id}/move",
        audience: Audience::Api,
        methods: &[(Verb::Post, |r| r.to(queue::move_item))],
    },
    Endpoint {
        path: "/api/rooms/{code}/queue/{item_id}/vote",
        audience: Audience::Api,
        methods: &[
            (Verb::Put, |r| r.to(queue::vote)),
            (Verb::Delete, |r| r.to(queue::unvote)),
        ],
    },
    Endpoint {
        path: "/ws/rooms/{code}",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(ws::room_socket))],
    },
    Endpoint {
        path: "/api/ws-schema.json",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::ws_schema))],
    },
    Endpoint {
        path: "/api/openapi.json",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::openapi))],
    },
    Endpoint {
        path: "/healthz",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::healthz))],
    },
    Endpoint {
        path: "/readyz",
        audience: Audience::Api,
        methods: &[(Verb::Get, |r| r.to(routes::readyz))],
    },
    Endpoint {
        path: "/metrics",
        audience: Audience::Metrics,
        methods: &[(Verb::Get, |r| r.to(routes::metrics))],
    },
    Endpoint {
        path: "/",
        audience: Audience::Page,
        methods: &[(Verb::Get, |r| r.to(assets::page))],
    },
    Endpoint {
        path: "/r/{code}",
        audience: Audience::Page,
        methods: &[(Verb::Get, |r| r.to(assets::page))],
    },
    Endpoint {
        path: "/assets/{name}",
        audience: Audience::Page,
        methods: &[(Verb::Get, |r| r.to(assets::file))],
    },
];

/// Registers every endpoint of the table; any other method on a known path
/// answers 405 with the path's methods in `Allow`.
pub(crate) fn register(app: &mut web::ServiceConfig, metrics_on_main: bool) {
    for endpoint in ENDPOINTS {
        if endpoint.audience == Audience::Metrics && !metrics_on_main {
            continue;
        }
        // Method names and ", " are always a valid header value.
        let allow = HeaderValue::from_str(&endpoint.allow())
            .unwrap_or_else(|_| HeaderValue::from_static("GET"));
        let mut resource = web::resource(endpoint.path)
            .default_service(web::to(move || routes::method_not_allowed(allow.clone())));
        for (verb, attach) in endpoint.methods {
            resource = resource.route(attach(verb.route()));
        }
        app.service(resource);
    }
}
