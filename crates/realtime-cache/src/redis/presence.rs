//! Presence in Redis: connections tagged with their instance, counted per
//! user, and reaped when their instance's lease ran out.

use super::{unavailable, RedisCache, Shared};
use crate::{CacheError, Departed, Member, Presence};
use async_trait::async_trait;
use fred::prelude::*;
use std::collections::HashMap;
use watchparty_domain::{ConnectionId, RoomCode, UserId};

impl Shared {
    fn presence_keys(&self, room: &RoomCode) -> Vec<String> {
        vec![
            self.keys.conns(room),
            self.keys.counts(room),
            self.keys.names(room),
            self.keys.participants(room),
            self.keys.live_rooms(),
        ]
    }

    pub(super) async fn add(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: &Member,
    ) -> Result<i64, CacheError> {
        let args = vec![
            conn.0.to_string(),
            member.user.0.to_string(),
            member.display_name.clone(),
            self.instance.clone(),
            room.to_string(),
        ];
        self.add
            .evalsha_with_reload(&self.client, self.presence_keys(room), args)
            .await
            .map_err(unavailable)
    }

    async fn remove(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<i64, CacheError> {
        let args = vec![conn.0.to_string(), user.0.to_string(), room.to_string()];
        self.remove
            .evalsha_with_reload(&self.client, self.presence_keys(room), args)
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Presence for RedisCache {
    async fn add_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: Member,
    ) -> Result<bool, CacheError> {
        let shared = &self.shared;
        let outcome = shared.add(room, conn, &member).await;
        shared.mirror().conns.insert(conn, (room.clone(), member));
        Ok(outcome? == 1)
    }

    async fn remove_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<bool, CacheError> {
        let shared = &self.shared;
        {
            let mut mirror = shared.mirror();
            mirror.conns.remove(&conn);
            if !mirror.conns.values().any(|(r, _)| r == room) {
                mirror.rooms.remove(room);
            }
        }
        Ok(shared.remove(room, conn, user).await? == 1)
    }

    async fn members(&self, room: &RoomCode) -> Result<Vec<Member>, CacheError> {
        let names: HashMap<String, String> = self
            .shared
            .client
            .hgetall(self.shared.keys.names(room))
            .await
            .map_err(unavailable)?;
        let mut members: Vec<Member> = names
            .into_iter()
            .filter_map(|(user, display_name)| {
                Some(Member {
                    user: UserId(user.parse().ok()?),
                    display_name,
                })
            })
            .collect();
        members.sort_by_key(|m| m.user);
        Ok(members)
    }

    async fn reap_departed(&self) -> Result<Vec<Departed>, CacheError> {
        let shared = &self.shared;
        let client = &shared.client;
        let live: Vec<String> = client
            .smembers(shared.keys.live_rooms())
            .await
            .map_err(unavailable)?;
        let mut alive: HashMap<String, bool> = HashMap::from([(shared.instance.clone(), true)]);
        let mut departed = Vec::new();
        for code in live {
            let Ok(room) = RoomCode::parse(&code) else {
                continue;
            };
            let conns: HashMap<String, String> = client
                .hgetall(shared.keys.conns(&room))
                .await
                .map_err(unavailable)?;
            for (conn, owner) in conns {
                let Some((instance, user)) = owner.split_once('|') else {
                    continue;
                };
                let (Ok(conn), Ok(user)) =
                    (conn.parse().map(ConnectionId), user.parse().map(UserId))
                else {
                    continue;
                };
                let is_alive = match alive.get(instance) {
                    Some(known) => *known,
                    None => {
                        let exists: bool = client
                            .exists(shared.keys.lease(instance))
                            .await
                            .map_err(unavailable)?;
                        alive.insert(instance.to_owned(), exists);
                        exists
                    }
                };
                if is_alive {
                    continue;
                }
                let name: Option<String> = client
                    .hget(shared.keys.names(&room), user.0.to_string())
                    .await
                    .map_err(unavailable)?;
                // Only the instance whose removal succeeds reports it.
                match shared.remove(&room, conn, user).await? {
                    0 => {}
                    outcome => departed.push(Departed {
                        room: room.clone(),
                        connection: conn,
                        user,
                        display_name: name.unwrap_or_default(),
                        last_of_user: outcome == 1,
                    }),
                }
            }
        }
        Ok(departed)
    }

    async fn live_rooms(&self) -> Result<Vec<(RoomCode, u64)>, CacheError> {
        let shared = &self.shared;
        let codes: Vec<String> = shared
            .client
            .smembers(shared.keys.live_rooms())
            .await
            .map_err(unavailable)?;
        let rooms: Vec<RoomCode> = codes
            .iter()
            .filter_map(|c| RoomCode::parse(c).ok())
            .collect();
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let pipe = shared.client.pipeline();
        for room in &rooms {
            let _: () = pipe
                .scard(shared.keys.participants(room))
                .await
                .map_err(unavailable)?;
        }
        let counts: Vec<u64> = pipe.all().await.map_err(unavailable)?;
        Ok(rooms
            .into_iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    async fn viewer_count(&self, room: &RoomCode) -> Result<u64, CacheError> {
        self.shared
            .client
            .scard(self.shared.keys.participants(room))
            .await
            .map_err(unavailable)
    }
}
