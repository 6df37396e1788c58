//! One contract, two backends: every test here is written once against
//! `&dyn RealtimeCache` and runs on `InProcess` always and on `RedisCache`
//! when `WATCHPARTY_TEST_REDIS_URL` names a Redis (scripts/test.sh starts one).
//! Without that variable the Redis variants pass as skipped, except under CI
//! (`CI` set), where a missing Redis fails them: CI must test both backends.
//!
//! Each Redis variant works under a key prefix of its own, so runs and tests
//! never see each other's keys. What only Redis can show (two instances on
//! one Redis, a dead instance's sockets, the canonical keys of contract §6)
//! is in the `redis_only` module at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use watchparty_domain::{ConnectionId, RoomCode, UserId};
use watchparty_realtime_cache::{
    Audience, Broadcast, BroadcastSink, Counter, InProcess, LiveWait, Member, RealtimeCache,
    RedisCache, RedisSettings, SyncEntry,
};

/// How long a test waits for something that must happen (a delivery, a lock).
const WAIT: Duration = Duration::from_secs(5);

/// A sink that records what it was handed, and wakes whoever waits for it.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(RoomCode, Broadcast)>>,
    arrived: Notify,
}

impl BroadcastSink for Recorder {
    fn deliver(&self, room: &RoomCode, broadcast: &Broadcast) {
        self.seen
            .lock()
            .unwrap()
            .push((room.clone(), broadcast.clone()));
        self.arrived.notify_waiters();
    }
}

impl Recorder {
    fn seen(&self) -> Vec<(RoomCode, Broadcast)> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until a broadcast with `payload` arrived in `room`; returns
    /// everything received so far, in order.
    async fn wait_for(&self, room: &RoomCode, payload: &str) -> Vec<(RoomCode, Broadcast)> {
        let deadline = Instant::now() + WAIT;
        loop {
            let arrived = self.arrived.notified();
            let seen = self.seen();
            if seen
                .iter()
                .any(|(r, b)| r == room && b.payload == payload.as_bytes())
            {
                return seen;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{payload} did not arrive in {room} within {WAIT:?}; got {seen:?}");
            }
        }
    }
}

/// One instance's cache and the sink it delivers to.
struct Live {
    cache: Arc<dyn RealtimeCache>,
    sink: Arc<Recorder>,
}

impl Live {
    fn cache(&self) -> &dyn RealtimeCache {
        &*self.cache
    }
}

fn in_process() -> Live {
    let sink = Arc::new(Recorder::default());
    Live {
        cache: Arc::new(InProcess::new(sink.clone())),
        sink,
    }
}

/// The test Redis, or `None` (skip) outside CI when none is configured.
fn redis_url() -> Option<String> {
    match std::env::var("WATCHPARTY_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "WATCHPARTY_TEST_REDIS_URL is not set but CI is: the Redis variants must run \
                 (scripts/test.sh starts a Redis and sets it)"
            );
            eprintln!("skipped: WATCHPARTY_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// A key prefix no other test or run uses.
fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new().hash_one(std::time::SystemTime::now());
    format!(
        "conformance:{}:{random:016x}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn redis_settings(url: &str, prefix: &str, lease: Duration) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        command_timeout: Duration::from_secs(2),
        lease,
    }
}

async fn redis_instance(url: &str, prefix: &str, lease: Duration) -> Live {
    let sink = Arc::new(Recorder::default());
    let cache = RedisCache::connect(redis_settings(url, prefix, lease), sink.clone())
        .await
        .expect("the test Redis answers");
    Live {
        cache: Arc::new(cache),
        sink,
    }
}

async fn redis() -> Option<Live> {
    let url = redis_url()?;
    Some(redis_instance(&url, &unique_prefix(), Duration::from_secs(30)).await)
}

fn room(n: u8) -> RoomCode {
    RoomCode::from_entropy([n; 10])
}

fn member(id: i64) -> Member {
    Member {
        user: UserId(id),
        display_name: format!("user {id}"),
    }
}

fn broadcast(payload: &'static str) -> Broadcast {
    Broadcast {
        payload: Bytes::from_static(payload.as_bytes()),
        to: Audience::Everyone,
        except: None,
        then_close: None,
    }
}

/// Runs each listed test on both backends: `in_process::NAME` and `redis::NAME`.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::in_process()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(live) = super::redis().await {
                        super::$test(&live).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    presence_counts_users_not_sockets,
    members_are_distinct_users_by_id,
    live_rooms_and_viewer_counts,
    no_living_instance_is_reaped,
    the_projection_accepts_writes,
    a_stored_wait_reads_back_and_comes_due_at_its_deadline,
    sync_reports_count_for_thirty_seconds,
    publish_reaches_a_subscribed_instance_only,
    except_and_then_close_are_carried,
    a_claim_is_single_use_within_its_ttl,
    attempts_count_within_a_window,
    a_reservation_counts_every_key_or_none,
    racing_reservations_never_pass_the_limit,
    release_never_goes_below_zero,
    a_lock_is_exclusive_until_unlocked_by_its_token,
    a_waiting_taker_gets_the_lock_when_it_is_released,
    a_lock_expires_after_its_ttl,
    a_stale_token_cannot_release_a_new_holder,
    locks_on_different_keys_are_independent,
    ping_answers,
    a_stamp_grows_with_each_bump_and_per_room,
);

async fn a_stamp_grows_with_each_bump_and_per_room(live: &Live) {
    let cache = live.cache();
    let (a, b) = (room(61), room(62));
    assert_eq!(cache.stamp(&a).await.unwrap(), 0, "never bumped");
    assert_eq!(cache.bump_stamp(&a).await.unwrap(), 1);
    assert_eq!(cache.stamp(&a).await.unwrap(), 1);
    // Racing bumps each get a stamp of their own.
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (live, a) = (Arc::clone(&live.cache), a.clone());
        racing.spawn(async move { live.bump_stamp(&a).await.unwrap() });
    }
    let mut seen: Vec<u64> = racing.join_all().await;
    seen.sort_unstable();
    assert_eq!(seen, (2..=21).collect::<Vec<u64>>());
    assert_eq!(cache.stamp(&a).await.unwrap(), 21);
    assert_eq!(cache.stamp(&b).await.unwrap(), 0, "rooms apart");
}

async fn presence_counts_users_not_sockets(live: &Live) {
    let cache = live.cache();
    let r = room(1);
    let first = |c: u64, u: i64| cache.add_connection(&r, ConnectionId(c), member(u));
    assert!(first(1, 7).await.unwrap(), "ana's first socket");
    assert!(!first(2, 7).await.unwrap(), "ana's second socket");
    assert!(!first(2, 7).await.unwrap(), "a known socket again");
    assert!(first(3, 8).await.unwrap(), "bob's first socket");
    assert_eq!(cache.viewer_count(&r).await.unwrap(), 2);

    let last = |c: u64, u: i64| cache.remove_connection(&r, ConnectionId(c), UserId(u));
    assert!(!last(1, 7).await.unwrap(), "ana still has a socket");
    assert_eq!(cache.viewer_count(&r).await.unwrap(), 2);
    assert!(last(2, 7).await.unwrap(), "ana's last socket");
    assert!(!last(2, 7).await.unwrap(), "removing twice changes nothing");
    assert!(
        !last(99, 8).await.unwrap(),
        "an unknown socket changes nothing"
    );
    assert_eq!(cache.members(&r).await.unwrap(), vec![member(8)]);
    assert_eq!(cache.viewer_count(&r).await.unwrap(), 1);
    assert!(last(3, 8).await.unwrap());
    assert_eq!(cache.viewer_count(&r).await.unwrap(), 0);
    assert!(cache.members(&r).await.unwrap().is_empty());
}

async fn members_are_distinct_users_by_id(live: &Live) {
    let cache = live.cache();
    let r = room(2);
    for (conn, user) in [(1, 30), (2, 4), (3, 30), (4, 12), (5, 4)] {
        cache
            .add_connection(&r, ConnectionId(conn), member(user))
            .await
            .unwrap();
    }
    assert_eq!(
        cache.members(&r).await.unwrap(),
        vec![member(4), member(12), member(30)]
    );
    assert!(cache.members(&room(3)).await.unwrap().is_empty());
}

async fn live_rooms_and_viewer_counts(live: &Live) {
    let cache = live.cache();
    let (a, b) = (room(4), room(5));
    assert!(cache.live_rooms().await.unwrap().is_empty());
    assert_eq!(cache.viewer_count(&a).await.unwrap(), 0);
    for (r, conn, user) in [(&a, 1, 1), (&a, 2, 1), (&a, 3, 2), (&b, 4, 1)] {
        cache
            .add_connection(r, ConnectionId(conn), member(user))
            .await
            .unwrap();
    }
    let mut rooms = cache.live_rooms().await.unwrap();
    rooms.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
    let mut expected = vec![(a.clone(), 2), (b.clone(), 1)];
    expected.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
    assert_eq!(rooms, expected);

    cache
        .remove_connection(&b, ConnectionId(4), UserId(1))
        .await
        .unwrap();
    assert_eq!(
        cache.live_rooms().await.unwrap(),
        vec![(a.clone(), 2)],
        "a room leaves the registry with its last socket"
    );
    assert_eq!(cache.viewer_count(&b).await.unwrap(), 0);
}

async fn no_living_instance_is_reaped(live: &Live) {
    let cache = live.cache();
    cache
        .add_connection(&room(6), ConnectionId(1), member(1))
        .await
        .unwrap();
    assert!(cache.reap_departed().await.unwrap().is_empty());
    assert_eq!(cache.viewer_count(&room(6)).await.unwrap(), 1);
}

async fn the_projection_accepts_writes(live: &Live) {
    // What Redis stores is checked in `redis_only`; the playback reads back
    // (sync telemetry measures reports against it).
    let cache = live.cache();
    let r = room(7);
    assert_eq!(cache.playback(&r).await.unwrap(), None);
    let playback = watchparty_domain::PlaybackState {
        is_playing: true,
        position: watchparty_domain::Position::clamped(3.25),
        updated_at: watchparty_domain::Millis(1_700_000_000_001),
        rate: watchparty_domain::Rate::new(1.5).unwrap(),
        version: 4,
        item: None,
    };
    cache.set_playback(&r, playback).await.unwrap();
    assert_eq!(cache.playback(&r).await.unwrap(), Some(playback));
    cache
        .set_host_status(&r, watchparty_realtime_cache::HostStatus::Grace)
        .await
        .unwrap();
    cache.forget_room(&r).await.unwrap();
    cache.forget_room(&r).await.unwrap();
    assert_eq!(cache.playback(&r).await.unwrap(), None);
}

async fn a_stored_wait_reads_back_and_comes_due_at_its_deadline(live: &Live) {
    use watchparty_domain::{GroupWait, Millis, PlayerState, RoomNow, WaitPolicy, WaitReason};
    let cache = live.cache();
    let (r, quiet) = (room(40), room(41));
    assert_eq!(cache.load_wait(&r).await.unwrap(), LiveWait::default());
    let mut wait = GroupWait::new();
    let now = Millis(1_700_000_000_000);
    let _ = wait.connect(ConnectionId(1), UserId(7), false, now);
    let paused = RoomNow {
        playing: false,
        policy: WaitPolicy::Start,
    };
    let _ = wait.report(ConnectionId(1), PlayerState::Loading, paused, now);
    let _ = wait.set_wait(UserId(8), false, now);
    let _ = wait.start(WaitReason::Play, WaitPolicy::Start, now);
    let deadline = wait.next_deadline().unwrap();
    let stored = LiveWait { wait, version: 3 };
    cache.store_wait(&r, &stored).await.unwrap();
    cache
        .store_wait(&quiet, &LiveWait::default())
        .await
        .unwrap();
    assert_eq!(cache.load_wait(&r).await.unwrap(), stored);

    let due = |at: Millis| cache.waits_due(at);
    assert!(!due(Millis(deadline.0 - 1)).await.unwrap().contains(&r));
    let at_deadline = due(deadline).await.unwrap();
    assert!(at_deadline.contains(&r), "{at_deadline:?}");
    assert!(
        !at_deadline.contains(&quiet),
        "a room without a wait is never due"
    );

    // The wait ended: no longer due.
    let mut ended = stored.clone();
    let _ = ended.wait.settle(deadline);
    assert!(ended.wait.current().is_none());
    cache.store_wait(&r, &ended).await.unwrap();
    assert!(!due(deadline).await.unwrap().contains(&r));
    assert_eq!(cache.load_wait(&r).await.unwrap(), ended);

    cache.forget_wait(&r).await.unwrap();
    assert_eq!(cache.load_wait(&r).await.unwrap(), LiveWait::default());
}

async fn sync_reports_count_for_thirty_seconds(live: &Live) {
    use watchparty_domain::{Millis, ReportedState};
    let cache = live.cache();
    let r = room(42);
    let report = |user: i64, at: i64, drift_ms: f64| SyncEntry {
        user: UserId(user),
        display_name: format!("user {user} with spaces"),
        drift_ms,
        rtt_ms: 31.5,
        state: ReportedState::Playing,
        updated_at: Millis(at),
    };
    let t = 1_700_000_000_000;
    cache.record_sync(&r, report(7, t, -120.25)).await.unwrap();
    cache
        .record_sync(&r, report(8, t + 10_000, 40.0))
        .await
        .unwrap();
    // A newer report replaces the user's older one.
    cache
        .record_sync(&r, report(7, t + 20_000, -80.0))
        .await
        .unwrap();
    assert_eq!(
        cache.sync_entries(&r, Millis(t + 21_000)).await.unwrap(),
        vec![report(7, t + 20_000, -80.0), report(8, t + 10_000, 40.0)]
    );
    // Thirty seconds after a report it no longer counts.
    assert_eq!(
        cache.sync_entries(&r, Millis(t + 40_000)).await.unwrap(),
        vec![report(7, t + 20_000, -80.0)]
    );
    assert!(cache
        .sync_entries(&room(43), Millis(t))
        .await
        .unwrap()
        .is_empty());
    cache.forget_wait(&r).await.unwrap();
    assert!(cache
        .sync_entries(&r, Millis(t + 21_000))
        .await
        .unwrap()
        .is_empty());
}

async fn publish_reaches_a_subscribed_instance_only(live: &Live) {
    let cache = live.cache();
    let (r, other, fence) = (room(8), room(9), room(10));
    cache.publish(&r, broadcast("before")).await.unwrap();
    cache.subscribe(&r).await.unwrap();
    cache.subscribe(&fence).await.unwrap();
    cache.publish(&r, broadcast("one")).await.unwrap();
    cache.publish(&other, broadcast("elsewhere")).await.unwrap();
    cache.publish(&r, broadcast("two")).await.unwrap();
    let seen = live.sink.wait_for(&r, "two").await;
    let got: Vec<_> = seen.iter().map(|(r, b)| (r.clone(), b.clone())).collect();
    assert_eq!(
        got,
        vec![(r.clone(), broadcast("one")), (r.clone(), broadcast("two"))],
        "in order, only the subscribed room, nothing from before the subscription"
    );

    cache.unsubscribe(&r).await.unwrap();
    cache.publish(&r, broadcast("after")).await.unwrap();
    // Deliveries keep their order: once the fence arrived, "after" would have too.
    cache.publish(&fence, broadcast("fence")).await.unwrap();
    let seen = live.sink.wait_for(&fence, "fence").await;
    assert!(
        !seen.iter().any(|(_, b)| b.payload == "after"),
        "nothing arrives after unsubscribing: {seen:?}"
    );
}

async fn except_and_then_close_are_carried(live: &Live) {
    let cache = live.cache();
    let r = room(11);
    cache.subscribe(&r).await.unwrap();
    let sent = Broadcast {
        payload: Bytes::from_static(b"{\"type\":\"ROOM_CLOSED\"}"),
        to: Audience::Users(vec![UserId(5), UserId(6)]),
        except: Some(ConnectionId(u64::MAX - 3)),
        then_close: Some(4001),
    };
    cache.publish(&r, sent.clone()).await.unwrap();
    let seen = live.sink.wait_for(&r, "{\"type\":\"ROOM_CLOSED\"}").await;
    assert_eq!(seen, vec![(r, sent)]);
}

async fn a_claim_is_single_use_within_its_ttl(live: &Live) {
    let cache = live.cache();
    let ttl = Duration::from_secs(1);
    assert!(cache.claim_once("jti-1", ttl).await.unwrap());
    assert!(!cache.claim_once("jti-1", ttl).await.unwrap(), "spent");
    assert!(
        !cache.claim_once("jti-1", ttl).await.unwrap(),
        "still spent"
    );
    assert!(cache.claim_once("jti-2", ttl).await.unwrap(), "another key");
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert!(
        cache.claim_once("jti-1", ttl).await.unwrap(),
        "claimable again once its ttl passed"
    );
}

async fn attempts_count_within_a_window(live: &Live) {
    let cache = live.cache();
    let window = Duration::from_secs(1);
    assert_eq!(cache.attempts("k").await.unwrap(), 0);
    assert_eq!(cache.count_attempt("k", window).await.unwrap(), 1);
    assert_eq!(cache.count_attempt("k", window).await.unwrap(), 2);
    assert_eq!(cache.count_attempt("other", window).await.unwrap(), 1);
    assert_eq!(cache.attempts("k").await.unwrap(), 2);
    cache.clear_attempts("k").await.unwrap();
    assert_eq!(cache.attempts("k").await.unwrap(), 0);
    assert_eq!(cache.count_attempt("k", window).await.unwrap(), 1);
    // The window starts with its first attempt and is not extended by later ones.
    tokio::time::sleep(window / 4).await;
    assert_eq!(cache.count_attempt("k", window).await.unwrap(), 2);
    tokio::time::sleep(window * 3 / 4 + Duration::from_millis(300)).await;
    assert_eq!(cache.attempts("k").await.unwrap(), 0, "the window ended");
    assert_eq!(
        cache.count_attempt("k", window).await.unwrap(),
        1,
        "a new window"
    );
}

async fn a_reservation_counts_every_key_or_none(live: &Live) {
    let cache = live.cache();
    let window = Duration::from_secs(60);
    let counters = [
        Counter {
            key: "wide",
            limit: None,
        },
        Counter {
            key: "narrow",
            limit: Some(2),
        },
    ];
    assert_eq!(cache.reserve(&counters, window).await.unwrap(), None);
    assert_eq!(cache.reserve(&counters, window).await.unwrap(), None);
    // Full: the second counter refuses, and neither counts.
    assert_eq!(cache.reserve(&counters, window).await.unwrap(), Some(1));
    assert_eq!(cache.attempts("wide").await.unwrap(), 2);
    assert_eq!(cache.attempts("narrow").await.unwrap(), 2);
    // The first full key is named.
    let both_full = [
        Counter {
            key: "narrow",
            limit: Some(2),
        },
        Counter {
            key: "wide",
            limit: Some(1),
        },
    ];
    assert_eq!(cache.reserve(&both_full, window).await.unwrap(), Some(0));
    cache.release(&["narrow"]).await.unwrap();
    assert_eq!(cache.reserve(&counters, window).await.unwrap(), None);
    assert_eq!(cache.attempts("wide").await.unwrap(), 3);
    assert_eq!(cache.attempts("narrow").await.unwrap(), 2);
}

async fn racing_reservations_never_pass_the_limit(live: &Live) {
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = Arc::clone(&live.cache);
            tokio::spawn(async move {
                let counters = [
                    Counter {
                        key: "race:user",
                        limit: Some(5),
                    },
                    Counter {
                        key: "race:all",
                        limit: None,
                    },
                ];
                cache.reserve(&counters, Duration::from_secs(60)).await
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            None => granted += 1,
            Some(full) => assert_eq!(full, 0),
        }
    }
    assert_eq!(granted, 5);
    assert_eq!(live.cache().attempts("race:user").await.unwrap(), 5);
    assert_eq!(live.cache().attempts("race:all").await.unwrap(), 5);
}

async fn release_never_goes_below_zero(live: &Live) {
    let cache = live.cache();
    let window = Duration::from_secs(60);
    cache.count_attempt("r", window).await.unwrap();
    cache
        .release(&["r", "r", "r", "never-counted"])
        .await
        .unwrap();
    assert_eq!(cache.attempts("r").await.unwrap(), 0);
    assert_eq!(cache.attempts("never-counted").await.unwrap(), 0);
    assert_eq!(
        cache.count_attempt("r", window).await.unwrap(),
        1,
        "counting resumes from zero"
    );
    cache.release(&["r"]).await.unwrap();
    let limited = [Counter {
        key: "r",
        limit: Some(1),
    }];
    assert_eq!(cache.reserve(&limited, window).await.unwrap(), None);
    assert_eq!(cache.reserve(&limited, window).await.unwrap(), Some(0));
}

const LONG: Duration = Duration::from_secs(30);

async fn a_lock_is_exclusive_until_unlocked_by_its_token(live: &Live) {
    let cache = live.cache();
    let held = cache.lock("chat:A", LONG, Duration::ZERO).await.unwrap();
    let held = held.expect("a free key is granted at once");
    assert_eq!(
        cache.lock("chat:A", LONG, Duration::ZERO).await.unwrap(),
        None,
        "held: refused without waiting"
    );
    assert_eq!(
        cache
            .lock("chat:A", LONG, Duration::from_millis(200))
            .await
            .unwrap(),
        None,
        "held: refused after waiting"
    );
    let forged = watchparty_realtime_cache::LockToken(format!("{}-not", held.0));
    cache.unlock("chat:A", forged).await.unwrap();
    assert_eq!(
        cache.lock("chat:A", LONG, Duration::ZERO).await.unwrap(),
        None,
        "another token does not release it"
    );
    cache.unlock("chat:A", held.clone()).await.unwrap();
    let next = cache.lock("chat:A", LONG, Duration::ZERO).await.unwrap();
    let next = next.expect("released by its token: free again");
    assert_ne!(next, held, "every grant has its own token");
    cache.unlock("chat:A", next).await.unwrap();
}

async fn a_waiting_taker_gets_the_lock_when_it_is_released(live: &Live) {
    let held = live
        .cache()
        .lock("chat:B", LONG, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let cache = Arc::clone(&live.cache);
    let waiter = tokio::spawn(async move { cache.lock("chat:B", LONG, WAIT).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter waits while the key is held"
    );
    live.cache().unlock("chat:B", held.clone()).await.unwrap();
    let taken = waiter.await.unwrap().unwrap();
    let taken = taken.expect("granted once the holder released it, within its wait");
    assert_ne!(taken, held);
    assert_eq!(
        live.cache()
            .lock("chat:B", LONG, Duration::ZERO)
            .await
            .unwrap(),
        None,
        "the waiter holds it now"
    );
}

async fn a_lock_expires_after_its_ttl(live: &Live) {
    let cache = live.cache();
    let ttl = Duration::from_secs(1);
    let first = cache.lock("chat:C", ttl, Duration::ZERO).await.unwrap();
    assert!(first.is_some());
    assert_eq!(
        cache.lock("chat:C", ttl, Duration::ZERO).await.unwrap(),
        None
    );
    // Never unlocked: a waiter gets it once the ttl has run out.
    let second = cache.lock("chat:C", ttl, WAIT).await.unwrap();
    assert!(
        second.is_some(),
        "a holder that never unlocks loses it after ttl"
    );
}

async fn a_stale_token_cannot_release_a_new_holder(live: &Live) {
    let cache = live.cache();
    let ttl = Duration::from_millis(200);
    let stale = cache
        .lock("chat:D", ttl, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let current = cache.lock("chat:D", LONG, WAIT).await.unwrap().unwrap();
    cache.unlock("chat:D", stale).await.unwrap();
    assert_eq!(
        cache.lock("chat:D", LONG, Duration::ZERO).await.unwrap(),
        None,
        "the expired holder's unlock left the new holder's lock alone"
    );
    cache.unlock("chat:D", current).await.unwrap();
    assert!(cache
        .lock("chat:D", LONG, Duration::ZERO)
        .await
        .unwrap()
        .is_some());
}

async fn locks_on_different_keys_are_independent(live: &Live) {
    let cache = live.cache();
    let a = cache.lock("chat:E", LONG, Duration::ZERO).await.unwrap();
    let b = cache.lock("chat:F", LONG, Duration::ZERO).await.unwrap();
    assert!(a.is_some() && b.is_some());
    cache.unlock("chat:E", a.unwrap()).await.unwrap();
    assert_eq!(
        cache.lock("chat:F", LONG, Duration::ZERO).await.unwrap(),
        None,
        "releasing one key leaves the other held"
    );
}

async fn ping_answers(live: &Live) {
    live.cache().ping().await.unwrap();
}

/// What only several instances on one Redis can show.
mod redis_only {
    use super::*;
    use fred::prelude::*;
    use std::collections::HashMap;

    async fn raw_client(url: &str) -> Client {
        let client = Builder::from_config(Config::from_url(url).unwrap())
            .build()
            .unwrap();
        client.init().await.unwrap();
        client
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_share_presence_and_events() {
        let Some(url) = redis_url() else { return };
        let prefix = unique_prefix();
        let a = redis_instance(&url, &prefix, LONG).await;
        let b = redis_instance(&url, &prefix, LONG).await;
        let r = room(20);
        let fence = room(21);

        assert!(a
            .cache()
            .add_connection(&r, ConnectionId(1), member(7))
            .await
            .unwrap());
        assert!(
            !b.cache()
                .add_connection(&r, ConnectionId(2), member(7))
                .await
                .unwrap(),
            "the same user on another instance is not new"
        );
        assert_eq!(b.cache().viewer_count(&r).await.unwrap(), 1);
        assert_eq!(a.cache().members(&r).await.unwrap(), vec![member(7)]);
        assert!(!a
            .cache()
            .remove_connection(&r, ConnectionId(1), UserId(7))
            .await
            .unwrap());
        assert!(b
            .cache()
            .remove_connection(&r, ConnectionId(2), UserId(7))
            .await
            .unwrap());

        a.cache().subscribe(&r).await.unwrap();
        a.cache().subscribe(&fence).await.unwrap();
        b.cache().publish(&r, broadcast("from b")).await.unwrap();
        a.sink.wait_for(&r, "from b").await;
        a.cache().unsubscribe(&r).await.unwrap();
        b.cache().publish(&r, broadcast("too late")).await.unwrap();
        b.cache().publish(&fence, broadcast("fence")).await.unwrap();
        let seen = a.sink.wait_for(&fence, "fence").await;
        assert!(!seen.iter().any(|(_, b)| b.payload == "too late"));
        assert!(
            b.sink.seen().is_empty(),
            "B subscribed to nothing and received nothing"
        );

        // One lock for both instances.
        let held = a
            .cache()
            .lock("chat:X", LONG, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            b.cache()
                .lock("chat:X", LONG, Duration::from_millis(100))
                .await
                .unwrap(),
            None
        );
        a.cache().unlock("chat:X", held).await.unwrap();
        assert!(b
            .cache()
            .lock("chat:X", LONG, Duration::ZERO)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_instance_is_reaped_once() {
        let Some(url) = redis_url() else { return };
        let prefix = unique_prefix();
        let survivor = redis_instance(&url, &prefix, LONG).await;
        // Renewed every quarter lease while it lives; gone a lease after it dies.
        let dying = redis_instance(&url, &prefix, Duration::from_secs(1)).await;
        let r = room(22);
        dying
            .cache()
            .add_connection(&r, ConnectionId(1), member(5))
            .await
            .unwrap();
        survivor
            .cache()
            .add_connection(&r, ConnectionId(2), member(6))
            .await
            .unwrap();
        assert!(survivor.cache().reap_departed().await.unwrap().is_empty());
        drop(dying);

        let deadline = Instant::now() + WAIT;
        let departed = loop {
            let departed = survivor.cache().reap_departed().await.unwrap();
            if !departed.is_empty() || Instant::now() > deadline {
                break departed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            departed,
            vec![watchparty_realtime_cache::Departed {
                room: r.clone(),
                connection: ConnectionId(1),
                user: UserId(5),
                display_name: "user 5".to_owned(),
                last_of_user: true,
            }]
        );
        assert!(
            survivor.cache().reap_departed().await.unwrap().is_empty(),
            "reported once"
        );
        assert_eq!(survivor.cache().members(&r).await.unwrap(), vec![member(6)]);
    }

    /// An instance under a fresh prefix, and a plain client to read its keys.
    async fn canonical(url: &str) -> (Live, Client, String) {
        let prefix = unique_prefix();
        let live = redis_instance(url, &prefix, LONG).await;
        (live, raw_client(url).await, prefix)
    }

    /// Contract §6 and §13 rule 22: `wait`, `ready` and `sync`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wait_and_sync_keys_are_written_as_the_contract_says() {
        use watchparty_domain::{
            GroupWait, Millis, PlayerState, ReportedState, RoomNow, WaitPolicy, WaitReason,
        };
        let Some(url) = redis_url() else { return };
        let (live, raw, prefix) = canonical(&url).await;
        let r = RoomCode::parse("K7Q2M9XAPD").unwrap();
        let key = |what: &str| format!("{prefix}:room:K7Q2M9XAPD:{what}");
        let cache = live.cache();

        let now = Millis(1_700_000_000_000);
        let mut wait = GroupWait::new();
        let paused = RoomNow {
            playing: false,
            policy: WaitPolicy::Start,
        };
        for (socket, user, state) in [
            (1, 7, PlayerState::Loading),
            (2, 8, PlayerState::Ready),
            (3, 8, PlayerState::Buffering),
        ] {
            let _ = wait.connect(ConnectionId(socket), UserId(user), false, now);
            let _ = wait.report(ConnectionId(socket), state, paused, now);
        }
        // A socket that never reported has no readiness at all.
        let _ = wait.connect(ConnectionId(4), UserId(9), false, now);
        let _ = wait.start(WaitReason::Seek, WaitPolicy::Start, now);
        let stored = LiveWait { wait, version: 12 };
        cache.store_wait(&r, &stored).await.unwrap();

        let hash: HashMap<String, String> = raw.hgetall(key("wait")).await.unwrap();
        assert_eq!(
            hash,
            HashMap::from([
                ("reason".to_owned(), "seek".to_owned()),
                ("deadline".to_owned(), (now.0 + 10_000).to_string()),
                ("version".to_owned(), "12".to_owned()),
            ])
        );
        let ready: HashMap<String, String> = raw.hgetall(key("ready")).await.unwrap();
        assert_eq!(
            ready,
            HashMap::from([
                ("7".to_owned(), "not_ready".to_owned()),
                ("8".to_owned(), "ready".to_owned()),
            ])
        );

        cache
            .record_sync(
                &r,
                SyncEntry {
                    user: UserId(7),
                    display_name: "ana".to_owned(),
                    drift_ms: -42.5,
                    rtt_ms: 30.0,
                    state: ReportedState::Playing,
                    updated_at: now,
                },
            )
            .await
            .unwrap();
        let sync: HashMap<String, String> = raw.hgetall(key("sync")).await.unwrap();
        assert_eq!(sync.len(), 1, "{sync:?}");
        assert!(sync["7"].starts_with("-42.5 30 playing"), "{sync:?}");
        let ttl: i64 = raw.pttl(key("sync")).await.unwrap();
        assert!(
            (1..=30_000).contains(&ttl),
            "expires 30 s after the last report: {ttl}"
        );

        // No wait in progress: no `wait` hash.
        let mut ended = stored.clone();
        let _ = ended.wait.pause(now);
        cache.store_wait(&r, &ended).await.unwrap();
        let gone: HashMap<String, String> = raw.hgetall(key("wait")).await.unwrap();
        assert!(gone.is_empty(), "{gone:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_canonical_keys_are_written_as_contract_section_6_says() {
        let Some(url) = redis_url() else { return };
        let (live, raw, prefix) = canonical(&url).await;
        let r = RoomCode::parse("K7Q2M9XAPD").unwrap();
        let key = |what: &str| format!("{prefix}:room:K7Q2M9XAPD:{what}");
        let cache = live.cache();

        cache.subscribe(&r).await.unwrap();
        cache
            .add_connection(&r, ConnectionId(1), member(42))
            .await
            .unwrap();
        cache
            .set_playback(
                &r,
                watchparty_domain::PlaybackState {
                    is_playing: true,
                    position: watchparty_domain::Position::clamped(12.5),
                    updated_at: watchparty_domain::Millis(1_700_000_000_123),
                    rate: watchparty_domain::Rate::new(1.5).unwrap(),
                    version: 7,
                    item: None,
                },
            )
            .await
            .unwrap();
        cache
            .set_host_status(&r, watchparty_realtime_cache::HostStatus::Grace)
            .await
            .unwrap();

        let state: HashMap<String, String> = raw.hgetall(key("state")).await.unwrap();
        assert_eq!(
            state,
            HashMap::from([
                ("is_playing".to_owned(), "1".to_owned()),
                ("time".to_owned(), "12.5".to_owned()),
                ("updated_at".to_owned(), "1700000000123".to_owned()),
                ("rate".to_owned(), "1.5".to_owned()),
                ("version".to_owned(), "7".to_owned()),
            ])
        );
        let host: Option<String> = raw.get(key("host")).await.unwrap();
        assert_eq!(host.as_deref(), Some("grace"));
        let participants: Vec<String> = raw.smembers(key("participants")).await.unwrap();
        assert_eq!(participants, vec!["42".to_owned()]);
        let live_rooms: Vec<String> = raw.smembers(format!("{prefix}:rooms:live")).await.unwrap();
        assert_eq!(live_rooms, vec!["K7Q2M9XAPD".to_owned()]);

        cache
            .set_playback(
                &r,
                watchparty_domain::PlaybackState {
                    is_playing: false,
                    position: watchparty_domain::Position::clamped(0.0),
                    updated_at: watchparty_domain::Millis(5),
                    rate: watchparty_domain::Rate::NORMAL,
                    version: 0,
                    item: None,
                },
            )
            .await
            .unwrap();
        let playing: Option<String> = raw.hget(key("state"), "is_playing").await.unwrap();
        assert_eq!(playing.as_deref(), Some("0"));

        cache.forget_room(&r).await.unwrap();
        let exists: u64 = raw.exists(vec![key("state"), key("host")]).await.unwrap();
        assert_eq!(exists, 0, "a forgotten room's projection is gone");
        cache
            .remove_connection(&r, ConnectionId(1), UserId(42))
            .await
            .unwrap();
        let participants: Vec<String> = raw.smembers(key("participants")).await.unwrap();
        assert!(participants.is_empty());
        let live_rooms: Vec<String> = raw.smembers(format!("{prefix}:rooms:live")).await.unwrap();
        assert!(live_rooms.is_empty());
    }
}
