//! What this instance wrote, kept in memory so that it can write it again
//! when Redis comes back empty (a restart, a failover).

use super::Shared;
use crate::{HostStatus, Member};
use std::collections::HashMap;
use std::sync::MutexGuard;
use watchparty_domain::{ConnectionId, PlaybackState, RoomCode};

/// This instance's sockets, and the projection of the rooms they are in.
#[derive(Default)]
pub(super) struct Mirror {
    pub(super) conns: HashMap<ConnectionId, (RoomCode, Member)>,
    pub(super) rooms: HashMap<RoomCode, (Option<PlaybackState>, Option<HostStatus>)>,
}

impl Shared {
    pub(super) fn mirror(&self) -> MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes back what this instance knows after Redis came back (possibly empty).
    pub(super) async fn restore(&self) {
        let (conns, rooms) = {
            let mirror = self.mirror();
            let conns: Vec<_> = mirror
                .conns
                .iter()
                .map(|(c, (r, m))| (*c, r.clone(), m.clone()))
                .collect();
            let rooms: Vec<_> = mirror
                .rooms
                .iter()
                .map(|(r, state)| (r.clone(), *state))
                .collect();
            (conns, rooms)
        };
        let mut failures = 0usize;
        if self.renew_lease().await.is_err() {
            failures += 1;
        }
        for (conn, room, member) in &conns {
            if self.add(room, *conn, member).await.is_err() {
                failures += 1;
            }
        }
        for (room, (playback, host)) in rooms {
            if let Some(playback) = playback {
                failures += usize::from(self.write_playback(&room, playback).await.is_err());
            }
            if let Some(host) = host {
                failures += usize::from(self.write_host(&room, host).await.is_err());
            }
        }
        tracing::info!(
            sockets = conns.len(),
            failures,
            "live state written back to Redis after a reconnect"
        );
    }
}
