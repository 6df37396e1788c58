//! A broadcast on the pub/sub wire: version, the excluded connection (0:
//! none), the close code (0: none), the number of users it is for
//! (`u32::MAX`: everyone) and their ids, then the payload.

use crate::{Audience, Broadcast};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use watchparty_domain::{ConnectionId, UserId};

const VERSION: u8 = 2;
const EVERYONE: u32 = u32::MAX;
const HEAD: usize = 1 + 8 + 2 + 4;

pub(super) fn encode(broadcast: &Broadcast) -> Bytes {
    let users: &[UserId] = match &broadcast.to {
        Audience::Everyone => &[],
        Audience::Users(users) => users,
    };
    let mut out = BytesMut::with_capacity(HEAD + 8 * users.len() + broadcast.payload.len());
    out.put_u8(VERSION);
    out.put_u64(broadcast.except.map_or(0, |c| c.0));
    out.put_u16(broadcast.then_close.unwrap_or(0));
    match &broadcast.to {
        Audience::Everyone => out.put_u32(EVERYONE),
        Audience::Users(users) => {
            // A room has far fewer than 2^32 users; more would be cut here.
            let count = u32::try_from(users.len()).unwrap_or(EVERYONE - 1);
            out.put_u32(count);
            for user in users.iter().take(count as usize) {
                out.put_i64(user.0);
            }
        }
    }
    out.put_slice(&broadcast.payload);
    out.freeze()
}

pub(super) fn decode(mut bytes: Bytes) -> Option<Broadcast> {
    if bytes.len() < HEAD || bytes.get_u8() != VERSION {
        return None;
    }
    let except = bytes.get_u64();
    let close = bytes.get_u16();
    let to = match bytes.get_u32() {
        EVERYONE => Audience::Everyone,
        count => {
            let count = usize::try_from(count).ok()?;
            if bytes.len() < count.checked_mul(8)? {
                return None;
            }
            Audience::Users((0..count).map(|_| UserId(bytes.get_i64())).collect())
        }
    };
    Some(Broadcast {
        payload: bytes,
        to,
        except: (except != 0).then_some(ConnectionId(except)),
        then_close: (close != 0).then_some(close),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_survive_the_wire() {
        let cases = [
            (None, None, Audience::Everyone),
            (
                Some(ConnectionId(u64::MAX)),
                Some(4001),
                Audience::Users(vec![UserId(7), UserId(-1)]),
            ),
            (None, Some(4003), Audience::Users(Vec::new())),
        ];
        for (except, close, to) in cases {
            let broadcast = Broadcast {
                payload: Bytes::from_static(b"{\"type\":\"PLAY\"}"),
                to,
                except,
                then_close: close,
            };
            assert_eq!(decode(encode(&broadcast)), Some(broadcast));
        }
        assert_eq!(decode(Bytes::from_static(b"junk")), None);
        // A count that promises more users than the bytes hold.
        let mut short = BytesMut::new();
        short.put_u8(VERSION);
        short.put_u64(0);
        short.put_u16(0);
        short.put_u32(3);
        short.put_i64(1);
        assert_eq!(decode(short.freeze()), None);
    }
}
