//! A room's group wait as one Redis string: a line per socket, per
//! remembered user and per waited-for socket, so that one `GET` and one
//! `SET` under the room's lock move the whole state. Anything unreadable
//! reads as "no state": the wait is live state, and losing it at worst
//! ends a wait early.

use crate::LiveWait;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use watchparty_domain::{
    ConnectionId, Millis, PlayerState, SocketReadiness, UserId, UserWaitRecord, Wait, WaitReason,
    WaitedSocket,
};

const REASONS: [WaitReason; 5] = [
    WaitReason::Play,
    WaitReason::Seek,
    WaitReason::Resume,
    WaitReason::Advance,
    WaitReason::Rebuffer,
];

fn flag(b: bool) -> u8 {
    u8::from(b)
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `v <version>`, then `s <socket> <user> <state|-> <ready_once> <joined_while_playing> <rtt|->`,
/// `u <user> <opted_out> <excluded_until|-> <skip,skip…|->`,
/// `w <reason> <started_at> <deadline>` and `x <socket> <user> <ready>`.
pub(super) fn encode(live: &LiveWait) -> String {
    let mut out = format!("v {}\n", live.version);
    let wait = &live.wait;
    for (id, s) in &wait.sockets {
        let state = s.last.map(PlayerState::as_str);
        let _ = writeln!(
            out,
            "s {} {} {} {} {} {}",
            id.0,
            s.user.0,
            opt(state),
            flag(s.ready_once),
            flag(s.joined_while_playing),
            opt(s.rtt_ms)
        );
    }
    for (user, u) in &wait.users {
        let skips: Vec<String> = u.skips.iter().map(|t| t.0.to_string()).collect();
        let skips = if skips.is_empty() {
            "-".to_owned()
        } else {
            skips.join(",")
        };
        let until = u.excluded_until.map(|t| t.0);
        let _ = writeln!(
            out,
            "u {} {} {} {skips}",
            user.0,
            flag(u.opted_out),
            opt(until)
        );
    }
    if let Some(w) = &wait.wait {
        let _ = writeln!(
            out,
            "w {} {} {}",
            w.reason.as_str(),
            w.started_at.0,
            w.deadline.0
        );
        for (id, waited) in &w.waited {
            let _ = writeln!(out, "x {} {} {}", id.0, waited.user.0, flag(waited.ready));
        }
    }
    out
}

/// Reads what [`encode`] wrote; `None` when anything does not read.
pub(super) fn decode(text: &str) -> Option<LiveWait> {
    let mut live = LiveWait::default();
    let mut waited = BTreeMap::new();
    let mut wait_head: Option<(WaitReason, Millis, Millis)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["v", version] => live.version = version.parse().ok()?,
            ["s", id, user, state, ready_once, joined, rtt] => {
                let last = match *state {
                    "-" => None,
                    name => Some(PlayerState::parse(name)?),
                };
                let rtt_ms = match *rtt {
                    "-" => None,
                    n => Some(n.parse().ok()?),
                };
                live.wait.sockets.insert(
                    ConnectionId(id.parse().ok()?),
                    SocketReadiness {
                        user: UserId(user.parse().ok()?),
                        last,
                        ready_once: *ready_once == "1",
                        joined_while_playing: *joined == "1",
                        rtt_ms,
                    },
                );
            }
            ["u", user, opted_out, until, skips] => {
                let excluded_until = match *until {
                    "-" => None,
                    n => Some(Millis(n.parse().ok()?)),
                };
                let skips = match *skips {
                    "-" => Vec::new(),
                    list => list
                        .split(',')
                        .map(|t| t.parse().ok().map(Millis))
                        .collect::<Option<Vec<_>>>()?,
                };
                live.wait.users.insert(
                    UserId(user.parse().ok()?),
                    UserWaitRecord {
                        opted_out: *opted_out == "1",
                        skips,
                        excluded_until,
                    },
                );
            }
            ["w", reason, started_at, deadline] => {
                let reason = REASONS.into_iter().find(|r| r.as_str() == *reason)?;
                let started_at = Millis(started_at.parse().ok()?);
                wait_head = Some((reason, started_at, Millis(deadline.parse().ok()?)));
            }
            ["x", id, user, ready] => {
                let socket = WaitedSocket {
                    user: UserId(user.parse().ok()?),
                    ready: *ready == "1",
                };
                waited.insert(ConnectionId(id.parse().ok()?), socket);
            }
            [""] => {}
            _ => return None,
        }
    }
    live.wait.wait = wait_head.map(|(reason, started_at, deadline)| Wait {
        reason,
        started_at,
        deadline,
        waited,
    });
    Some(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchparty_domain::{GroupWait, WaitPolicy};

    #[test]
    fn a_wait_in_progress_reads_back_as_written() {
        let mut wait = GroupWait::new();
        let now = Millis(1_000);
        let _ = wait.connect(ConnectionId(7), UserId(1), false, now);
        let _ = wait.connect(ConnectionId(9), UserId(2), true, now);
        let room = watchparty_domain::RoomNow {
            playing: false,
            policy: WaitPolicy::Start,
        };
        let _ = wait.report(ConnectionId(7), PlayerState::Loading, room, now);
        let _ = wait.report(ConnectionId(9), PlayerState::Ready, room, now);
        wait.note_rtt(ConnectionId(9), 42.4);
        let _ = wait.set_wait(UserId(3), false, now);
        let _ = wait.start(WaitReason::Seek, WaitPolicy::Start, now);
        assert!(wait.current().is_some());
        let live = LiveWait { wait, version: 12 };
        assert_eq!(decode(&encode(&live)), Some(live));
        assert_eq!(
            decode(&encode(&LiveWait::default())),
            Some(LiveWait::default())
        );
        assert_eq!(decode("s 1 nonsense"), None);
    }
}
