//! Refuses an oversized WebSocket frame from its header.
//!
//! actix-http's parser waits for a whole frame before checking its size, so a
//! client announcing a 1 GiB frame could make the server buffer 1 GiB. This
//! adapter watches the frame headers in the raw byte stream and fails the
//! stream (answered with close 1009) as soon as a header announces more than
//! the limit. Bytes pass through unchanged.

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) struct FrameGuard<S> {
    inner: S,
    limit: u64,
    header: [u8; 14],
    header_len: usize,
    payload_left: u64,
    failed: bool,
}

impl<S> FrameGuard<S> {
    pub(crate) fn new(inner: S, limit: usize) -> Self {
        FrameGuard {
            inner,
            limit: limit as u64,
            header: [0; 14],
            header_len: 0,
            payload_left: 0,
            failed: false,
        }
    }

    /// The announced payload length once the header is complete.
    fn header_done(&self) -> Option<u64> {
        let header = self.header.get(..self.header_len)?;
        let [_, second] = *header.first_chunk::<2>()?;
        let rest = header.get(2..)?;
        let mask_len = if second & 0x80 != 0 { 4 } else { 0 };
        let (ext_len, short) = match second & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        if rest.len() < ext_len + mask_len {
            return None;
        }
        Some(match short {
            Some(n) => n,
            None => rest
                .get(..ext_len)?
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        })
    }

    /// Follows the frame boundaries through `chunk`; `false` once a frame is too big.
    fn inspect(&mut self, chunk: &[u8]) -> bool {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min(rest.len() as u64);
                self.payload_left -= skip;
                rest = rest
                    .get(usize::try_from(skip).unwrap_or(rest.len())..)
                    .unwrap_or_default();
                continue;
            }
            let (Some(byte), Some(slot)) = (rest.first(), self.header.get_mut(self.header_len))
            else {
                return false;
            };
            *slot = *byte;
            self.header_len += 1;
            rest = rest.get(1..).unwrap_or_default();
            if let Some(length) = self.header_done() {
                if length > self.limit {
                    return false;
                }
                self.payload_left = length;
                self.header_len = 0;
            }
        }
        true
    }
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if this.inspect(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    this.failed = true;
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> FrameGuard<futures_util::stream::Empty<Result<Bytes, PayloadError>>> {
        FrameGuard::new(futures_util::stream::empty(), 64 * 1024)
    }

    fn header(len: u64) -> Vec<u8> {
        let mut h = vec![0x81];
        if len < 126 {
            h.push(0x80 | len as u8);
        } else if len <= 0xffff {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    #[test]
    fn follows_frames_split_anywhere() {
        let mut bytes = header(5);
        bytes.extend_from_slice(b"hello");
        bytes.extend(header(300));
        bytes.extend(vec![0u8; 300]);
        bytes.extend(header(64 * 1024));
        bytes.extend(vec![0u8; 64 * 1024]);
        for split in [1, 2, 3, 7, 100, 4096] {
            let mut g = guard();
            assert!(bytes.chunks(split).all(|c| g.inspect(c)), "split {split}");
            assert_eq!((g.header_len, g.payload_left), (0, 0));
        }
    }

    #[test]
    fn refuses_an_oversized_header_before_its_payload() {
        let mut g = guard();
        assert!(g.inspect(b"\x81\x83\x01\x02\x03\x04abc"));
        assert!(!g.inspect(&header(64 * 1024 + 1)));
        let mut g = guard();
        let huge = header(1 << 30);
        assert!(g.inspect(&huge[..5]), "not complete yet");
        assert!(!g.inspect(&huge[5..]));
    }
}
