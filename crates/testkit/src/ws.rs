//! The room WebSocket as a client library speaks it, every read with a timeout.

use crate::{StatusCode, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A room socket with timeouts on every read.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    closed: bool,
}

impl WsClient {
    /// Connects to `/ws/rooms/{code}/`, with the token and Origin given.
    pub async fn connect(
        port: u16,
        code: &str,
        token: Option<&str>,
        origin: Option<&str>,
    ) -> Result<WsClient, StatusCode> {
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        let mut request = format!("ws://127.0.0.1:{port}/ws/rooms/{code}/{query}")
            .into_client_request()
            .unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient {
                stream,
                closed: false,
            }),
            Err(tungstenite::Error::Http(response)) => {
                Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// The next message, or `None` if the socket closed or nothing came within `wait`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("server sent JSON"))
                }
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Whether the connection has ended (seen by a read).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The next message; fails the test after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.try_recv(WAIT)
            .await
            .expect("a message within the wait")
    }

    /// The next message, which must be of this type.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(message["type"], kind, "expected {kind}, got {message}");
        message
    }

    /// Reads until a message of this type arrives, skipping others.
    pub async fn recv_until(&mut self, kind: &str) -> Value {
        loop {
            let message = self.recv().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    /// Asserts that no message arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(message) = self.try_recv(wait).await {
            panic!("expected silence, got {message}");
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// Sends a JSON message; `false` if the socket is gone (the server
    /// closed it), for senders that race a close on purpose.
    pub async fn try_send(&mut self, message: Value) -> bool {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .is_ok()
    }

    /// Sends any frame.
    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// Reads until the server closes; returns the close code (skipping messages).
    pub async fn closed_with(&mut self) -> Option<u16> {
        self.drain_until_closed().await.1
    }

    /// Every message until the server closes, and the close code.
    pub async fn drain_until_closed(&mut self) -> (Vec<Value>, Option<u16>) {
        self.drain_for(WAIT).await
    }

    /// Like [`WsClient::drain_until_closed`], failing only after `wait`.
    pub async fn drain_for(&mut self, wait: Duration) -> (Vec<Value>, Option<u16>) {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the server did not close the socket; got {seen:?}"),
                Ok(None) | Ok(Some(Err(_))) => return (seen, None),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (seen, frame.map(|f| u16::from(f.code)))
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    seen.push(serde_json::from_str(&text).expect("server sent JSON"))
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Drops the connection with a TCP reset, as a crashed client or a
    /// broken network does: no close frame, no goodbye.
    pub fn reset(self) {
        if let MaybeTlsStream::Plain(tcp) = self.stream.get_ref() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }

    /// Closes from the client side.
    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
        // Drain until the server acknowledges, so the close is processed.
        let _ =
            tokio::time::timeout(WAIT, async { while self.stream.next().await.is_some() {} }).await;
    }
}
