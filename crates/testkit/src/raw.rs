//! A WebSocket spoken by hand, to send frames no well-behaved client would.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw TCP connection upgraded to WebSocket.
pub struct RawSocket {
    stream: TcpStream,
}

impl RawSocket {
    /// Performs the upgrade with `token`; panics unless the server answers 101.
    pub async fn connect(port: u16, code: &str, token: &str) -> RawSocket {
        Self::connect_with_buffer(port, code, token, None).await
    }

    /// Like [`RawSocket::connect`], with a small kernel receive buffer, so a
    /// client that stops reading pushes back on the server quickly.
    pub async fn connect_with_buffer(
        port: u16,
        code: &str,
        token: &str,
        recv_buffer: Option<u32>,
    ) -> RawSocket {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let request = format!(
            "GET /ws/rooms/{code}/?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        RawSocket { stream }
    }

    /// A client frame: FIN set, masked with a fixed key unless `masked` is false.
    pub fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        Self::frame_with(true, opcode, payload, masked)
    }

    /// A client frame with an explicit FIN bit (for fragments).
    pub fn frame_with(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | (opcode & 0x0f)];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= 0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        if masked {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// The TCP connection underneath.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }

    /// Writes bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        // The server may close mid-write; that is what some tests expect.
        let _ = self.try_send(bytes).await;
    }

    /// Writes bytes as they are; `false` once the connection is gone.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Writes `payload` repeatedly until `total` bytes went out or the
    /// connection broke; returns the bytes the kernel took.
    pub async fn stream(&mut self, payload: &[u8], total: u64) -> u64 {
        let mut written = 0u64;
        while written < total {
            if !self.try_send(payload).await {
                break;
            }
            written += payload.len() as u64;
        }
        written
    }

    /// Reads server frames until a Close; returns its code (`None` if the
    /// connection ended without one). Fails the test after `wait`.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        tokio::time::timeout(wait, async {
            loop {
                let mut head = [0u8; 2];
                if self.stream.read_exact(&mut head).await.is_err() {
                    return None;
                }
                let opcode = head[0] & 0x0f;
                let len = match head[1] & 0x7f {
                    126 => {
                        let mut b = [0u8; 2];
                        self.stream.read_exact(&mut b).await.ok()?;
                        u16::from_be_bytes(b) as usize
                    }
                    127 => {
                        let mut b = [0u8; 8];
                        self.stream.read_exact(&mut b).await.ok()?;
                        u64::from_be_bytes(b) as usize
                    }
                    n => n as usize,
                };
                let mut payload = vec![0u8; len];
                self.stream.read_exact(&mut payload).await.ok()?;
                if opcode == 0x8 {
                    return (payload.len() >= 2)
                        .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                }
            }
        })
        .await
        .expect("the server closed the connection in time")
    }
}
