//! Refuses an oversized WebSocket frame from its header.
//!
//! actix-http's frame parser waits for a whole frame before checking its
//! size, so a client announcing a 1 GiB frame could make the server buffer
//! 1 GiB. The socket reads the length a frame's header announces first and
//! closes with 1009 as soon as it is over the limit, before any payload.

/// The payload length announced by the frame header at the start of `buf`,
/// once the header is complete.
pub(crate) fn announced_length(buf: &[u8]) -> Option<u64> {
    let [_, second] = *buf.first_chunk::<2>()?;
    let rest = buf.get(2..)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn reads_every_length_form_once_the_header_is_whole() {
        for len in [0, 5, 125, 126, 300, 65_535, 65_536, 1 << 30] {
            let h = header(len);
            assert_eq!(announced_length(&h), Some(len), "{len}");
            assert_eq!(
                announced_length(&h[..h.len() - 1]),
                None,
                "{len}: cut short"
            );
        }
        assert_eq!(announced_length(&[0x81]), None);
    }
}
