//! Server messages as WebSocket frames (RFC 6455 §5.2), encoded once.
//!
//! Frames from a server are not masked, so one event's frame is the same
//! bytes for every recipient: the server encodes it once and hands each
//! socket a reference-counted copy to write as it is.

use std::sync::Arc;

/// The opcodes a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A text message (a protocol message's JSON).
    Text = 0x1,
    /// The closing handshake.
    Close = 0x8,
    /// A heartbeat asking for a pong.
    Ping = 0x9,
    /// The answer to a client's ping.
    Pong = 0xA,
}

/// One complete, unmasked frame, ready to write. One pointer wide (with
/// its length), so that every socket's queue of frames stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Arc<[u8]>);

impl Frame {
    /// A final frame of `opcode` carrying `payload`.
    ///
    /// ```
    /// use watchparty_protocol::frame::{Frame, Opcode};
    /// let frame = Frame::new(Opcode::Text, b"{}");
    /// assert_eq!(frame.as_bytes(), b"\x81\x02{}");
    /// ```
    pub fn new(opcode: Opcode, payload: &[u8]) -> Self {
        let len = payload.len();
        let mut out = Vec::with_capacity(len + 10);
        out.push(0x80 | opcode as u8);
        if len < 126 {
            out.push(len as u8);
        } else if let Ok(short) = u16::try_from(len) {
            out.push(126);
            out.extend_from_slice(&short.to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        Frame(out.into())
    }

    /// A text frame carrying `text`.
    pub fn text(text: &str) -> Self {
        Frame::new(Opcode::Text, text.as_bytes())
    }

    /// A close frame with `code` and no reason.
    pub fn close(code: u16) -> Self {
        Frame::new(Opcode::Close, &code.to_be_bytes())
    }

    /// The bytes to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The payload, after the header.
    pub fn payload(&self) -> &[u8] {
        let header = match self.0.get(1).map(|b| b & 0x7f) {
            Some(126) => 4,
            Some(127) => 10,
            _ => 2,
        };
        self.0.get(header..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_form_that_fits() {
        for (len, header) in [
            (0usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65_535, vec![0x81, 126, 0xff, 0xff]),
            (65_536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let payload = vec![b'a'; len];
            let frame = Frame::new(Opcode::Text, &payload);
            assert_eq!(frame.as_bytes().get(..header.len()), Some(&header[..]));
            assert_eq!(frame.as_bytes().len(), header.len() + len);
            assert_eq!(frame.payload(), &payload[..]);
        }
    }

    #[test]
    fn a_frame_is_two_words() {
        assert_eq!(
            std::mem::size_of::<Frame>(),
            2 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn control_frames_carry_their_code() {
        assert_eq!(Frame::close(1013).as_bytes(), &[0x88, 2, 0x03, 0xf5]);
        assert_eq!(Frame::new(Opcode::Ping, b"").as_bytes(), &[0x89, 0]);
        assert_eq!(Frame::new(Opcode::Pong, b"hi").as_bytes(), b"\x8a\x02hi");
    }
}
