//! A broadcast on the pub/sub wire: version, the excluded connection (0:
//! none), the close code (0: none), then the payload.

use crate::Broadcast;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use watchparty_domain::ConnectionId;

pub(super) fn encode(broadcast: &Broadcast) -> Bytes {
    let mut out = BytesMut::with_capacity(11 + broadcast.payload.len());
    out.put_u8(1);
    out.put_u64(broadcast.except.map_or(0, |c| c.0));
    out.put_u16(broadcast.then_close.unwrap_or(0));
    out.put_slice(&broadcast.payload);
    out.freeze()
}

pub(super) fn decode(mut bytes: Bytes) -> Option<Broadcast> {
    if bytes.len() < 11 || bytes.get_u8() != 1 {
        return None;
    }
    let except = bytes.get_u64();
    let close = bytes.get_u16();
    Some(Broadcast {
        payload: bytes,
        except: (except != 0).then_some(ConnectionId(except)),
        then_close: (close != 0).then_some(close),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_survive_the_wire() {
        for (except, close) in [(None, None), (Some(ConnectionId(u64::MAX)), Some(4001))] {
            let broadcast = Broadcast {
                payload: Bytes::from_static(b"{\"type\":\"PLAY\"}"),
                except,
                then_close: close,
            };
            assert_eq!(decode(encode(&broadcast)), Some(broadcast));
        }
        assert_eq!(decode(Bytes::from_static(b"junk")), None);
    }
}
