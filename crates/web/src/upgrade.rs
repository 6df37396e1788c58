//! Requests that ask to switch protocols.
//!
//! actix-http hands every HTTP/1 request that carries an `Upgrade` header to
//! this service together with the connection itself, instead of to the
//! application. The request still goes through the application, routes and
//! middleware alike, to get its answer; when that answer is the room socket's
//! 101 ([`Upgraded`] in its extensions), the connection is served by
//! [`socket::serve`] on the bare TCP stream, with actix-http's buffers
//! dropped. Any other answer is written as it is and the connection closed.

use crate::socket::{self, Upgraded};
use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{ConnectionType, Request, Response, StatusCode};
use actix_service::{fn_factory, fn_service, Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::rt::net::TcpStream;
use bytes::BytesMut;
use futures_util::future::LocalBoxFuture;
use std::io;
use std::rc::Rc;
use tokio::io::AsyncWriteExt;

/// The upgrade service of one worker, running its own instance of the
/// application that `new_app` builds.
pub(crate) fn service<F, S, B>(
    new_app: F,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, Codec>),
    Config = (),
    Response = (),
    Error = actix_http::Error,
    InitError = (),
>
where
    F: Fn() -> S + 'static,
    S: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let factory = new_app();
        async move {
            let app = Rc::new(factory.new_service(AppConfig::default()).await?);
            Ok(fn_service(
                move |(request, framed): (Request, Framed<TcpStream, Codec>)| {
                    let app = Rc::clone(&app);
                    // Boxed: the served socket's future would otherwise be
                    // part of every HTTP connection's state.
                    Box::pin(async move {
                        // A connection that fails mid-answer has nobody to tell.
                        if let Err(e) = answer(app, request, framed).await {
                            tracing::debug!(error = %e, "an upgrade request's connection failed");
                        }
                        Ok(())
                    }) as LocalBoxFuture<'static, Result<(), actix_http::Error>>
                },
            ))
        }
    })
}

/// Answers one upgrade request, then serves the socket or closes.
async fn answer<S, B>(
    app: Rc<S>,
    mut request: Request,
    framed: Framed<TcpStream, Codec>,
) -> io::Result<()>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    // Held while the connection lives: its place under the per-address cap.
    let _connection = request.take_conn_data();
    // Boxed: held inline, the application's future would stay part of the
    // socket's memory for as long as it lives.
    let response: Response<_> = match Box::pin(app.call(request)).await {
        Ok(response) => response.map_into_boxed_body().into(),
        Err(e) => e.error_response().into(),
    };
    let upgraded = response.extensions().get::<Upgraded>().cloned();
    let parts = framed.into_parts();
    let (mut codec, mut io) = (parts.codec, parts.io);
    let (mut head, body) = response.into_parts();
    let mut out = BytesMut::new();
    match upgraded {
        Some(upgraded) if head.status() == StatusCode::SWITCHING_PROTOCOLS => {
            codec.encode(Message::Item((head, BodySize::None)), &mut out)?;
            io.write_all(&out).await?;
            // What the client sent behind its request, copied out of
            // actix-http's read buffer, which goes.
            let unread = BytesMut::from(parts.read_buf.as_ref());
            drop(parts.read_buf);
            drop(parts.write_buf);
            drop(out);
            socket::serve(io, unread, upgraded).await;
        }
        _ => {
            head.head_mut().set_connection_type(ConnectionType::Close);
            let body = actix_web::body::to_bytes(body).await.unwrap_or_default();
            let size = BodySize::Sized(body.len() as u64);
            codec.encode(Message::Item((head, size)), &mut out)?;
            codec.encode(Message::Chunk(Some(body)), &mut out)?;
            codec.encode(Message::Chunk(None), &mut out)?;
            io.write_all(&out).await?;
            let _ = io.shutdown().await;
        }
    }
    Ok(())
}
