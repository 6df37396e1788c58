//! Ends a room socket's TCP connection from the server's side.
//!
//! Once a WebSocket is closed, actix keeps reading and discarding whatever
//! the client still sends until the client hangs up: a client that broke the
//! protocol could stream gigabytes into a dead socket. Such a client, or one
//! gone silent or too slow, is not waited for: after the close frame had a
//! moment to leave, the response body fails, and actix drops the connection.

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How long a close frame gets to leave before the connection is dropped.
const LINGER: Duration = Duration::from_millis(100);

/// Why the body failed: the server hung up on purpose.
#[derive(Debug, thiserror::Error)]
#[error("the server hung up on a client that broke the protocol, went silent or read too slowly")]
struct HungUp;

/// The socket task's side: hangs the connection up.
#[derive(Clone, Default)]
pub(crate) struct HangUp {
    hold_open: Arc<AtomicBool>,
    now: CancellationToken,
}

impl HangUp {
    /// Wraps the upgrade response's body so that [`HangUp::after_close`] can end it.
    pub(crate) fn body<B: MessageBody + Unpin>(&self, inner: B) -> HangUpBody<B> {
        HangUpBody {
            inner,
            hold_open: Arc::clone(&self.hold_open),
            now: Box::pin(self.now.clone().cancelled_owned()),
        }
    }

    /// Call before sending the close frame: the body then stays open after
    /// it, until [`HangUp::after_close`].
    pub(crate) fn arm(&self) {
        self.hold_open.store(true, Ordering::SeqCst);
    }

    /// After the close frame was queued: lets it leave, then hangs up. The
    /// caller keeps the client's stream alive and unread meanwhile, so actix
    /// stops reading from the socket instead of discarding what arrives.
    pub(crate) async fn after_close(&self) {
        tokio::time::sleep(LINGER).await;
        self.now.cancel();
    }
}

/// The response body of an upgraded connection, failed on demand.
pub(crate) struct HangUpBody<B> {
    inner: B,
    hold_open: Arc<AtomicBool>,
    now: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<B: MessageBody + Unpin> MessageBody for HangUpBody<B> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.now.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(HungUp))));
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item.map_err(Into::into))),
            // Armed: the body stays open until the hang-up, which wakes it.
            Poll::Ready(None) if this.hold_open.load(Ordering::SeqCst) => Poll::Pending,
            other => other.map(|end| end.map(|item| item.map_err(Into::into))),
        }
    }
}
