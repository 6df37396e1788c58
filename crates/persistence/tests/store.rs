//! The store against a real SQLite file: the guarantees the service builds on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};
use watchparty_domain::{
    DisplayName, Email, Millis, Room, RoomCode, RoomName, RoomSettings, RoomStatus, UserId,
};
use watchparty_persistence::{scratch, Database, MessagePage, NewRoom, PersistenceError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The URL of a fresh database; the temp dir holds a SQLite file.
fn fresh_url(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("t.db").display()),
        Backend::Postgres => {
            let admin = std::env::var("WATCHPARTY_TEST_POSTGRES_URL")
                .expect("WATCHPARTY_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL");
            scratch::create_postgres_database(&admin).unwrap()
        }
    }
}

/// A migrated, empty database (migrating twice is harmless).
async fn database(backend: Backend) -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(&fresh_url(backend, &dir), CONNECT_TIMEOUT)
        .await
        .unwrap();
    let first = db.migrate().await.unwrap();
    assert!(!first.applied.is_empty());
    assert_eq!(first.total, first.applied.len());
    let again = db.migrate().await.unwrap();
    assert!(again.applied.is_empty(), "nothing is left to apply");
    assert_eq!(again.total, first.total);
    (db, dir)
}

/// Each scenario runs once per backend: the same queries must behave the same.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    conflicting_room_updates_have_one_winner,
    expired_graces_close_once,
    users_rooms_members_and_messages,
    every_new_field_round_trips,
    racing_host_changes_have_one_winner,
    a_ban_hides_the_participant,
    audit_pages_newest_first,
    promoting_rooms_are_left_to_the_engine,
    a_command_reads_only_the_people_it_needs,
    racing_playback_and_settings_changes_have_one_winner,
    rooms_from_before_roles_keep_working,
    the_queue_round_trips_and_racing_changes_have_one_winner,
);

async fn room(db: &Database) -> (Room, UserId) {
    let email = Email::parse("host@example.com").unwrap();
    let host = db
        .create_user(
            &email,
            "hash".into(),
            &DisplayName::parse("host").unwrap(),
            Millis(1),
        )
        .await
        .unwrap();
    let settings = RoomSettings {
        name: RoomName::parse("room").unwrap(),
        is_private: false,
        is_chat_enabled: true,
        media_url: None,
        ..RoomSettings::named(RoomName::parse("room").unwrap())
    };
    let code = RoomCode::from_entropy([9; 10]);
    let room = db
        .create_room(NewRoom {
            code,
            host: host.id,
            settings,
            now: Millis(1),
            first_item: None,
        })
        .await
        .unwrap();
    (room, host.id)
}

async fn conflicting_room_updates_have_one_winner(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (room, _) = room(&db).await;
    let grace = Room {
        status: RoomStatus::Grace {
            deadline: Millis(100),
            was_playing: true,
        },
        ..room.clone()
    };
    assert!(db.save_room(&room, &grace, Millis(2)).await.unwrap());
    assert_eq!(db.expired_graces(Millis(99)).await.unwrap(), vec![]);
    assert_eq!(
        db.expired_graces(Millis(100)).await.unwrap(),
        vec![room.code.clone()]
    );

    // The host returns and the sweeper closes, racing from the same state.
    let resumed = Room {
        status: RoomStatus::Open,
        ..room.clone()
    };
    let closed = Room {
        status: RoomStatus::Closed,
        ..room.clone()
    };
    let (a, b) = tokio::join!(
        db.save_room(&grace, &resumed, Millis(3)),
        db.save_room(&grace, &closed, Millis(3))
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one writer wins");
    let (stored, host_name) = db.room_by_code(&room.code).await.unwrap().unwrap();
    assert_eq!(host_name, "host");
    assert!(matches!(
        stored.status,
        RoomStatus::Open | RoomStatus::Closed
    ));
    assert_eq!(db.expired_graces(Millis(1000)).await.unwrap(), vec![]);
}

async fn expired_graces_close_once(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (room, _) = room(&db).await;
    let grace = Room {
        status: RoomStatus::Grace {
            deadline: Millis(100),
            was_playing: true,
        },
        ..room.clone()
    };
    assert!(db.save_room(&room, &grace, Millis(2)).await.unwrap());
    assert_eq!(db.close_expired_graces(Millis(99)).await.unwrap(), vec![]);
    // Two sweepers at the deadline: the room is closed, and reported, once.
    let (a, b) = tokio::join!(
        db.close_expired_graces(Millis(100)),
        db.close_expired_graces(Millis(100))
    );
    let mut reported = a.unwrap();
    reported.extend(b.unwrap());
    assert_eq!(reported, vec![room.code.clone()]);
    let (stored, _) = db.room_by_code(&room.code).await.unwrap().unwrap();
    assert_eq!(stored.status, RoomStatus::Closed);
    assert_eq!(stored.playback, grace.playback);
    // A host returning from the grace state finds the room closed already.
    let resumed = Room {
        status: RoomStatus::Open,
        ..room.clone()
    };
    assert!(!db.save_room(&grace, &resumed, Millis(101)).await.unwrap());
}

async fn users_rooms_members_and_messages(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (room, host) = room(&db).await;
    let email = Email::parse("HOST@example.com").unwrap();
    let again = db
        .create_user(
            &email,
            "h".into(),
            &DisplayName::parse("x").unwrap(),
            Millis(1),
        )
        .await;
    assert!(
        matches!(again, Err(PersistenceError::Conflict)),
        "emails are unique"
    );
    assert_eq!(db.user_by_email(&email).await.unwrap().unwrap().id, host);

    let duplicate = NewRoom {
        code: room.code.clone(),
        host,
        settings: room.settings.clone(),
        now: Millis(5),
        first_item: None,
    };
    assert!(
        matches!(
            db.create_room(duplicate).await,
            Err(PersistenceError::Conflict)
        ),
        "codes are never reused"
    );

    let host_membership = db.participant(room.id, host).await.unwrap().unwrap();
    assert!(host_membership.is_host());
    let viewer_email = Email::parse("v@example.com").unwrap();
    let viewer = db
        .create_user(
            &viewer_email,
            "h".into(),
            &DisplayName::parse("v").unwrap(),
            Millis(1),
        )
        .await
        .unwrap();
    let first = db.join(room.id, viewer.id, Millis(10)).await.unwrap();
    let second = db.join(room.id, viewer.id, Millis(20)).await.unwrap();
    assert_eq!(first, second);
    assert!(!first.is_host());

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            db.insert_message(room.id, viewer.id, format!("m{i}"), Millis(i))
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let latest = db.messages(room.id, MessagePage::Latest, 2).await.unwrap();
    assert_eq!(latest.iter().map(|m| m.id).collect::<Vec<_>>(), ids[3..]);
    let before = db
        .messages(room.id, MessagePage::Before(ids[2]), 10)
        .await
        .unwrap();
    assert_eq!(before.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..2]);
    let after = db
        .messages(room.id, MessagePage::After(ids[2]), 10)
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["m3", "m4"]
    );
    assert_eq!(after[0].display_name, "v");
}

#[tokio::test]
async fn bad_urls_say_what_is_wrong() {
    let err = Database::connect("mysql://localhost/x", CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sqlite://"), "{err}");
    let err = Database::connect("sqlite:///nonexistent-dir/deeper/x.db", CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

/// A port that accepts and never answers must not hang start-up: the
/// connection gives up after the configured timeout, and says so.
#[tokio::test]
async fn a_silent_server_times_out() {
    let port = scratch::silent_port().unwrap();
    let started = Instant::now();
    let err = Database::connect(
        &format!("postgres://wp:hunter2@127.0.0.1:{port}/wp"),
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, PersistenceError::ConnectTimeout(_)),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "no answer within 2 s");
    assert!(waited < Duration::from_secs(6), "gave up after {waited:?}");
}

/// One column as both backends describe it: table, column, type family, nullable.
type Column = (String, String, String, bool);

#[derive(diesel::QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_type: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    not_null: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pk: bool,
}

#[derive(diesel::QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    data_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    is_nullable: String,
}

async fn columns(backend: Backend) -> Vec<Column> {
    use diesel::RunQueryDsl;
    use watchparty_persistence::DbConnection;
    let (db, _dir) = database(backend).await;
    let mut columns: Vec<Column> = db
        .run(|conn| {
            Ok(match conn {
                DbConnection::Sqlite(c) => diesel::sql_query(
                    "SELECT m.name AS table_name, p.name AS column_name, p.type AS column_type, \
                     p.\"notnull\" AS not_null, p.pk > 0 AS pk \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '__diesel%'",
                )
                .load::<SqliteColumn>(c)?
                .into_iter()
                .map(|c| {
                    // SQLite's INTEGER PRIMARY KEY is its 64-bit rowid.
                    let family = match c.column_type.as_str() {
                        "INTEGER" | "BIGINT" => "bigint".to_owned(),
                        other => other.to_lowercase(),
                    };
                    (c.table_name, c.column_name, family, !(c.not_null || c.pk))
                })
                .collect(),
                DbConnection::Postgresql(c) => diesel::sql_query(
                    "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
                     FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name NOT LIKE '__diesel%'",
                )
                .load::<PgColumn>(c)?
                .into_iter()
                .map(|c| (c.table_name, c.column_name, c.data_type, c.is_nullable == "YES"))
                .collect(),
            })
        })
        .await
        .unwrap();
    columns.sort();
    columns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_trees_give_the_same_schema() {
    let sqlite = columns(Backend::Sqlite).await;
    let postgres = columns(Backend::Postgres).await;
    assert!(sqlite.len() > 20, "{sqlite:?}");
    assert_eq!(sqlite, postgres);
}

// ---- Roles, host continuity and moderation (issue 14) ----

use watchparty_domain::{
    AssignedRole, BanDuration, BanKind, Command, Control, Expiry, HostGrace, OnHostTimeout,
    PlaybackAction, Position, QueueMode, Rate, Reason, RejoinAfter, Role, WaitPolicy,
};
use watchparty_persistence::{AuditAction, AuditRecord};

async fn user(db: &Database, name: &str) -> UserId {
    db.create_user(
        &Email::parse(&format!("{name}@example.com")).unwrap(),
        "hash".into(),
        &DisplayName::parse(name).unwrap(),
        Millis(1),
    )
    .await
    .unwrap()
    .id
}

/// Applies `command` at `now`; it must be accepted.
fn apply(room: &Room, command: Command, now: i64) -> Room {
    room.apply(command, Millis(now), HostGrace::from_secs(600))
        .unwrap()
        .room
}

/// Stores `after` over `before`; the write must win.
async fn save(db: &Database, before: &Room, after: &Room, now: i64) {
    assert!(db.save_room(before, after, Millis(now)).await.unwrap());
}

async fn load(db: &Database, room: &Room) -> Room {
    db.room_by_code(&room.code).await.unwrap().unwrap().0
}

async fn every_new_field_round_trips(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let owner = user(&db, "owner").await;
    let (ana, bob, cyd, dee) = (
        user(&db, "ana").await,
        user(&db, "bob").await,
        user(&db, "cyd").await,
        user(&db, "dee").await,
    );
    let settings = RoomSettings {
        control: Control::Everyone,
        on_host_timeout: OnHostTimeout::Promote,
        wait_policy: WaitPolicy::Always,
        viewers_can_queue: false,
        queue_mode: QueueMode::Vote,
        ..RoomSettings::named(RoomName::parse("all fields").unwrap())
    };
    let created = db
        .create_room(NewRoom {
            code: RoomCode::from_entropy([4; 10]),
            host: owner,
            settings,
            now: Millis(10),
            first_item: None,
        })
        .await
        .unwrap();
    assert_eq!(
        load(&db, &created).await,
        created,
        "a new room reads back as created"
    );
    assert_eq!(
        (created.owner, created.host, created.host_epoch),
        (owner, owner, 0)
    );

    // Everything at once, through the rules: joins, a co-host, two mutes,
    // a kick, a ban of someone who never joined, a rate and playback.
    let mut room = created.clone();
    for (who, at) in [(ana, 20), (bob, 30), (cyd, 40)] {
        room = apply(&room, Command::Join { user: who }, at);
    }
    room = apply(
        &room,
        Command::SetRole {
            actor: owner,
            target: ana,
            role: AssignedRole::CoHost,
        },
        50,
    );
    room = apply(
        &room,
        Command::Mute {
            actor: owner,
            target: ana,
            duration: None,
        },
        60,
    );
    room = apply(
        &room,
        Command::Mute {
            actor: ana,
            target: bob,
            duration: Some(BanDuration::from_secs(90).unwrap()),
        },
        70,
    );
    room = apply(
        &room,
        Command::Kick {
            actor: owner,
            target: cyd,
            reason: Reason::parse("spoilers").unwrap(),
            rejoin_after: RejoinAfter::from_secs(120).unwrap(),
        },
        80,
    );
    room = apply(
        &room,
        Command::Ban {
            actor: ana,
            target: dee,
            reason: None,
            duration: None,
        },
        90,
    );
    room = apply(
        &room,
        Command::SetRate {
            actor: owner,
            rate: Rate::new(1.5).unwrap(),
        },
        100,
    );
    room = apply(
        &room,
        Command::Playback {
            actor: owner,
            action: PlaybackAction::Play(Position::new(42.5).unwrap()),
        },
        110,
    );
    assert_eq!(room.participants.len(), 3, "the kicked one is gone");
    assert_eq!(room.bans.len(), 2);
    assert_eq!(room.playback.version, 2);
    save(&db, &created, &room, 110).await;
    assert_eq!(load(&db, &room).await, room, "every field reads back");

    // A host change, then its grace: epoch, roles, mute lifted, status.
    let handed = apply(
        &room,
        Command::ChangeHost {
            actor: owner,
            target: ana,
            target_connected: true,
        },
        120,
    );
    let handed = apply(&handed, Command::HostDisconnected, 125);
    assert_eq!((handed.host, handed.host_epoch), (ana, 1));
    assert_eq!(handed.role_of(owner), Some(Role::CoHost));
    assert_eq!(
        handed.participants[&ana].muted, None,
        "becoming host lifts a mute"
    );
    assert!(matches!(handed.status, RoomStatus::Grace { .. }));
    save(&db, &room, &handed, 125).await;
    let stored = load(&db, &handed).await;
    assert_eq!(stored, handed);
    assert_eq!(stored.owner, owner, "the owner never changes");

    // Lapsed mutes and kicks are cleared, and their rows with them.
    let lapsed = handed.lapse_due(Millis(1_000_000)).unwrap().room;
    assert!(lapsed.bans.values().all(|b| b.user == dee));
    save(&db, &handed, &lapsed, 1_000_000).await;
    assert_eq!(load(&db, &lapsed).await, lapsed);

    // The listings carry the same rooms.
    let listed = db
        .public_rooms_except(Vec::new(), Millis(121), 10, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, lapsed);
    assert_eq!(listed[0].1, "ana", "the host's name is the new host's");

    // Participants in the contract's order, with names and mutes.
    let people = db.participants(room.id).await.unwrap();
    let order: Vec<(&str, Role)> = people
        .iter()
        .map(|p| (p.display_name.as_str(), p.role))
        .collect();
    assert_eq!(
        order,
        [
            ("ana", Role::Host),
            ("owner", Role::CoHost),
            ("bob", Role::Viewer)
        ]
    );
    assert_eq!(people[1].became_co_host_at, Some(Millis(120)));
    assert_eq!(people[2].participant(), lapsed.participants[&bob]);
}

async fn racing_host_changes_have_one_winner(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (created, host) = room(&db).await;
    let (ana, bob) = (user(&db, "ana").await, user(&db, "bob").await);
    let mut room = created.clone();
    for who in [ana, bob] {
        room = apply(&room, Command::Join { user: who }, 10);
        room = apply(
            &room,
            Command::SetRole {
                actor: host,
                target: who,
                role: AssignedRole::CoHost,
            },
            20,
        );
    }
    save(&db, &created, &room, 20).await;
    let room = load(&db, &room).await;

    // Two instances hand the same room to different co-hosts from epoch 0.
    let to_ana = apply(
        &room,
        Command::ChangeHost {
            actor: host,
            target: ana,
            target_connected: true,
        },
        30,
    );
    let to_bob = apply(
        &room,
        Command::ChangeHost {
            actor: host,
            target: bob,
            target_connected: true,
        },
        30,
    );
    let (a, b) = tokio::join!(
        db.save_room(&room, &to_ana, Millis(30)),
        db.save_room(&room, &to_bob, Millis(30))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one host change wins: {a} {b}");
    let winner = if a { &to_ana } else { &to_bob };
    let stored = load(&db, &room).await;
    assert_eq!(
        &stored, winner,
        "the loser wrote nothing, not even its roles"
    );
    assert_eq!(stored.host_epoch, 1);
    let hosts = stored
        .participants
        .values()
        .filter(|p| p.role == Role::Host)
        .count();
    assert_eq!(hosts, 1);

    // Anything else computed from the old epoch loses too; from the new one it wins.
    let muted = apply(
        &room,
        Command::Mute {
            actor: host,
            target: ana,
            duration: None,
        },
        40,
    );
    assert!(!db.save_room(&room, &muted, Millis(40)).await.unwrap());
    let renamed = apply(
        &stored,
        Command::UpdateSettings {
            actor: stored.host,
            change: watchparty_domain::SettingsChange {
                name: Some(RoomName::parse("renamed").unwrap()),
                ..Default::default()
            },
        },
        50,
    );
    save(&db, &stored, &renamed, 50).await;

    // Under load: 20 rounds of two racing changes, one winner each time.
    let mut current = load(&db, &room).await;
    for round in 0..20 {
        let now = 100 + round;
        let others: Vec<UserId> = [host, ana, bob]
            .into_iter()
            .filter(|u| *u != current.host)
            .collect();
        let first = apply(
            &current,
            Command::ChangeHost {
                actor: current.host,
                target: others[0],
                target_connected: true,
            },
            now,
        );
        let second = apply(
            &current,
            Command::ChangeHost {
                actor: current.host,
                target: others[1],
                target_connected: true,
            },
            now,
        );
        let (a, b) = tokio::join!(
            db.save_room(&current, &first, Millis(now)),
            db.save_room(&current, &second, Millis(now))
        );
        assert!(a.unwrap() ^ b.unwrap(), "round {round}");
        current = load(&db, &room).await;
        assert_eq!(current.host_epoch, 2 + u64::try_from(round).unwrap());
    }
}

async fn a_ban_hides_the_participant(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (created, host) = room(&db).await;
    let (vic, kit) = (user(&db, "vic").await, user(&db, "kit").await);
    db.join(created.id, vic, Millis(10)).await.unwrap();
    db.join(created.id, kit, Millis(11)).await.unwrap();
    let room = load(&db, &created).await;
    assert_eq!(
        room.participants.len(),
        3,
        "joins through the store are seen by the rules"
    );

    let banned = apply(
        &room,
        Command::Ban {
            actor: host,
            target: vic,
            reason: Reason::parse("trolling").unwrap(),
            duration: None,
        },
        20,
    );
    let kicked = apply(
        &banned,
        Command::Kick {
            actor: host,
            target: kit,
            reason: None,
            rejoin_after: RejoinAfter::from_secs(60).unwrap(),
        },
        30,
    );
    save(&db, &room, &kicked, 30).await;
    for who in [vic, kit] {
        assert_eq!(db.participant(room.id, who).await.unwrap(), None);
    }
    let names: Vec<String> = db
        .participants(room.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.display_name)
        .collect();
    assert_eq!(names, ["host"]);
    let stored = load(&db, &room).await;
    assert!(!stored.participants.contains_key(&vic));
    assert!(stored.ban_on(vic, Millis(1_000_000)).is_some());

    let bans = db.active_bans(room.id, Millis(31)).await.unwrap();
    let listed: Vec<(&str, &str, BanKind, Expiry)> = bans
        .iter()
        .map(|b| {
            (
                b.display_name.as_str(),
                b.by_name.as_str(),
                b.ban.kind,
                b.ban.expires,
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("vic", "host", BanKind::Ban, Expiry::UntilLifted),
            ("kit", "host", BanKind::Kick, Expiry::At(Millis(60_030))),
        ]
    );
    assert_eq!(
        bans[0].ban.reason.as_ref().map(|r| r.as_str()),
        Some("trolling")
    );

    // The store itself keeps them out while the ban holds.
    assert!(matches!(
        db.join(room.id, vic, Millis(40)).await,
        Err(PersistenceError::Banned(None))
    ));
    assert!(matches!(
        db.join(room.id, kit, Millis(60_029)).await,
        Err(PersistenceError::Banned(Some(Millis(60_030))))
    ));
    assert_eq!(db.participant(room.id, kit).await.unwrap(), None);
    // Once the kick lapses, the user may come back.
    let bans = db.active_bans(room.id, Millis(60_030)).await.unwrap();
    assert_eq!(bans.len(), 1);
    let back = db.join(room.id, kit, Millis(60_030)).await.unwrap();
    assert_eq!((back.role, back.joined_at), (Role::Viewer, Millis(60_030)));

    // Lifting the ban deletes it.
    let stored = load(&db, &room).await;
    let lifted = apply(
        &stored,
        Command::Unban {
            actor: host,
            target: vic,
        },
        60_040,
    );
    save(&db, &stored, &lifted, 60_040).await;
    let bans = db.active_bans(room.id, Millis(60_041)).await.unwrap();
    assert!(bans.is_empty(), "{bans:?}");
    db.join(room.id, vic, Millis(60_050)).await.unwrap();
}

async fn audit_pages_newest_first(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (room, host) = room(&db).await;
    let ana = user(&db, "ana").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let record = AuditRecord {
            action: if i % 2 == 0 {
                AuditAction::Muted
            } else {
                AuditAction::Unmuted
            },
            actor: (i != 3).then_some(host),
            target: Some(ana),
            detail: format!("{{\"n\": {i}}}"),
            at: Millis(100 + i),
        };
        ids.push(db.insert_audit(room.id, record).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // An entry stored with a room change, in its transaction.
    let joined = apply(&room, Command::Join { user: ana }, 200);
    let promoted = apply(
        &joined,
        Command::SetRole {
            actor: host,
            target: ana,
            role: AssignedRole::CoHost,
        },
        200,
    );
    let record = AuditRecord {
        action: AuditAction::RoleChanged,
        actor: Some(host),
        target: Some(ana),
        detail: r#"{"role": "co_host"}"#.into(),
        at: Millis(200),
    };
    assert!(db
        .save_room_audited(&room, &promoted, Millis(200), vec![record.clone()])
        .await
        .unwrap());
    // A losing write (from a state that is no longer stored) records nothing.
    let stale = Room {
        status: RoomStatus::Grace {
            deadline: Millis(500),
            was_playing: false,
        },
        ..room.clone()
    };
    assert!(!db
        .save_room_audited(&stale, &promoted, Millis(201), vec![record])
        .await
        .unwrap());

    let first = db.audit_entries(room.id, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].action, AuditAction::RoleChanged);
    assert_eq!(first[0].detail, r#"{"role": "co_host"}"#);
    assert_eq!(
        first[0].actor.as_ref().map(|a| a.display_name.as_str()),
        Some("host")
    );
    assert_eq!(
        first[0]
            .target
            .as_ref()
            .map(|t| (t.user, t.display_name.as_str())),
        Some((ana, "ana"))
    );
    assert_eq!(first[1].id, ids[4]);
    let next = db
        .audit_entries(room.id, Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[3], ids[2]]
    );
    assert_eq!(next[0].actor, None, "the server's own change has no actor");
    assert_eq!(next[0].action, AuditAction::Unmuted);
    assert_eq!(next[0].at, Millis(103));
    let rest = db.audit_entries(room.id, Some(ids[2]), 50).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );

    // Another room's log is its own.
    let other = db
        .create_room(NewRoom {
            code: RoomCode::from_entropy([7; 10]),
            host: ana,
            settings: RoomSettings::named(RoomName::parse("other").unwrap()),
            now: Millis(300),
            first_item: None,
        })
        .await
        .unwrap();
    assert!(db
        .audit_entries(other.id, None, 50)
        .await
        .unwrap()
        .is_empty());
}

async fn promoting_rooms_are_left_to_the_engine(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (room, host) = room(&db).await;
    let ana = user(&db, "ana").await;
    let promote = watchparty_domain::SettingsChange {
        on_host_timeout: Some(OnHostTimeout::Promote),
        ..Default::default()
    };
    let mut after = apply(&room, Command::Join { user: ana }, 5);
    after = apply(
        &after,
        Command::UpdateSettings {
            actor: host,
            change: promote,
        },
        5,
    );
    after = apply(&after, Command::HostDisconnected, 6);
    save(&db, &room, &after, 6).await;
    assert!(
        matches!(after.status, RoomStatus::Grace { .. }),
        "{after:?}"
    );
    let deadline = after.next_deadline().unwrap();
    // The bulk close skips it: whether it closes depends on who is connected.
    assert_eq!(db.close_expired_graces(deadline).await.unwrap(), vec![]);
    assert_eq!(
        db.expired_graces(deadline).await.unwrap(),
        vec![room.code.clone()]
    );
    let stored = load(&db, &room).await;
    let promoted = stored.expire_or_promote(deadline, &[ana]).unwrap().room;
    // Two instances settling it at once: one promotion.
    let (a, b) = tokio::join!(
        db.save_room(&stored, &promoted, deadline),
        db.save_room(&stored, &promoted, deadline)
    );
    assert!(a.unwrap() ^ b.unwrap());
    let now = load(&db, &room).await;
    assert_eq!(
        (now.host, now.host_epoch, now.status),
        (ana, 1, RoomStatus::Open)
    );
}

/// A database from before roles: every earlier migration, some rooms and
/// people written as the old code wrote them, then the new migration.
async fn rooms_from_before_roles_keep_working(backend: Backend) {
    use diesel::connection::SimpleConnection;
    use diesel::migration::MigrationSource;
    use diesel::RunQueryDsl;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    use watchparty_persistence::DbConnection;

    const ROLES: &str = "2026-12-02-000014";
    fn apply_earlier<C, B>(c: &mut C, dir: &str) -> diesel::migration::Result<()>
    where
        C: MigrationHarness<B>,
        B: diesel::backend::Backend,
        FileBasedMigrations: MigrationSource<B>,
    {
        let source = FileBasedMigrations::from_path(dir)?;
        let mut all = MigrationSource::<B>::migrations(&source)?;
        // Versions are the directory names' digits: compare those.
        let digits = |v: String| v.chars().filter(char::is_ascii_digit).collect::<String>();
        let roles = digits(ROLES.to_owned());
        all.sort_by_key(|m| digits(m.name().version().to_string()));
        c.applied_migrations()?;
        for m in all
            .iter()
            .filter(|m| digits(m.name().version().to_string()) < roles)
        {
            c.run_migration(&**m)?;
        }
        Ok(())
    }
    const OLD_ROWS: &str = "
        INSERT INTO users (id, email, password_hash, display_name, created_at) VALUES
            (1, 'h@example.com', 'x', 'hana', 1), (2, 'v@example.com', 'x', 'vik', 1),
            (3, 'g@example.com', 'x', 'gus', 1);
        INSERT INTO rooms (id, code, name, host_id, is_private, is_chat_enabled, media_url,
            status, grace_deadline, was_playing, is_playing, position, position_at, created_at)
        VALUES
            (1, 'AAAAAAAAAA', 'open one', 1, FALSE, TRUE, 'https://example.com/a.mp4',
             'open', NULL, FALSE, TRUE, 12.5, 500, 100),
            (2, 'BBBBBBBBBB', 'in grace', 2, TRUE, FALSE, NULL,
             'grace', 9000, TRUE, FALSE, 3.0, 600, 200);
        INSERT INTO participants (room_id, user_id, role, joined_at) VALUES
            (1, 1, 'host', 100), (1, 2, 'viewer', 150), (1, 3, 'viewer', 160),
            (2, 2, 'host', 200), (2, 1, 'viewer', 250);
        INSERT INTO chat_messages (room_id, user_id, message, created_at) VALUES (1, 2, 'hi', 170);";

    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(&fresh_url(backend, &dir), CONNECT_TIMEOUT)
        .await
        .unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    db.run(move |conn| {
        let to_err = |e: Box<dyn std::error::Error + Send + Sync>| {
            PersistenceError::Migration(e.to_string())
        };
        match conn {
            DbConnection::Sqlite(c) => {
                apply_earlier(c, &format!("{root}/sqlite")).map_err(to_err)?;
                c.batch_execute(OLD_ROWS)?;
            }
            DbConnection::Postgresql(c) => {
                apply_earlier(c, &format!("{root}/postgres")).map_err(to_err)?;
                c.batch_execute(OLD_ROWS)?;
                // Ids were given by hand: move the sequences past them.
                c.batch_execute(
                    "SELECT setval('users_id_seq', 3); SELECT setval('rooms_id_seq', 2);",
                )?;
            }
        }
        Ok(())
    })
    .await
    .unwrap();
    let migrated = db.migrate().await.unwrap();
    let applied: Vec<String> = migrated
        .applied
        .iter()
        .map(|v| v.chars().filter(char::is_ascii_digit).collect())
        .collect();
    assert_eq!(
        applied,
        [ROLES.replace('-', ""), "20261202000016".to_owned()],
        "{migrated:?}"
    );

    let open = RoomCode::parse("AAAAAAAAAA").unwrap();
    let (room, host_name) = db.room_by_code(&open).await.unwrap().unwrap();
    assert_eq!(host_name, "hana");
    assert_eq!(
        (room.owner, room.host, room.host_epoch),
        (UserId(1), UserId(1), 0)
    );
    assert_eq!(room.settings.control, Control::Host);
    assert_eq!(room.settings.on_host_timeout, OnHostTimeout::Close);
    assert_eq!(room.settings.wait_policy, WaitPolicy::Start);
    assert!(room.settings.viewers_can_queue);
    assert_eq!(room.settings.queue_mode, QueueMode::Manual);
    assert_eq!(room.playback.rate, Rate::NORMAL);
    assert_eq!(room.playback.version, 0);
    // The queue migration made the room's video its current item.
    let current = room.current_item.clone().expect("the old video is current");
    assert_eq!(current.media_url.as_str(), "https://example.com/a.mp4");
    assert_eq!((current.added_by, room.queue_version), (UserId(1), 0));
    assert_eq!(room.playback.item, Some(current.id));
    // New items get ids past the migrated ones.
    assert!(db.reserve_item_id().await.unwrap() > current.id);
    assert_eq!(
        room.playback.position_at(Millis(1500)),
        13.5,
        "still playing at rate 1"
    );
    let roles: Vec<(UserId, Role, Option<Expiry>)> = room
        .participants_in_order()
        .into_iter()
        .map(|p| (p.user, p.role, p.muted))
        .collect();
    assert_eq!(
        roles,
        [
            (UserId(1), Role::Host, None),
            (UserId(2), Role::Viewer, None),
            (UserId(3), Role::Viewer, None)
        ]
    );
    assert!(room.bans.is_empty());

    let grace = RoomCode::parse("BBBBBBBBBB").unwrap();
    let (graced, _) = db.room_by_code(&grace).await.unwrap().unwrap();
    assert_eq!((graced.owner, graced.host), (UserId(2), UserId(2)));
    assert_eq!(
        graced.status,
        RoomStatus::Grace {
            deadline: Millis(9000),
            was_playing: true
        }
    );
    // As before: the host returns within grace, or the sweep closes it.
    let back = apply(&graced, Command::HostConnected, 8000);
    save(&db, &graced, &back, 8000).await;
    assert_eq!(load(&db, &graced).await.status, RoomStatus::Open);

    // The new rules work on the old room: the owner (its old host) may
    // appoint, moderate and delete.
    let appointed = apply(
        &room,
        Command::SetRole {
            actor: UserId(1),
            target: UserId(2),
            role: AssignedRole::CoHost,
        },
        2000,
    );
    let kicked = apply(
        &appointed,
        Command::Kick {
            actor: UserId(2),
            target: UserId(3),
            reason: None,
            rejoin_after: RejoinAfter::default(),
        },
        2100,
    );
    save(&db, &room, &kicked, 2100).await;
    assert_eq!(load(&db, &room).await, kicked);
    assert_eq!(
        db.messages(room.id, MessagePage::Latest, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let deleted = apply(&kicked, Command::Delete { actor: UserId(1) }, 2200);
    save(&db, &kicked, &deleted, 2200).await;
    // New rooms and users still get fresh ids.
    let fresh = user(&db, "newcomer").await;
    assert!(fresh.0 > 3);

    // The owner must be a user, on SQLite too (triggers stand in for the key).
    let refused = db
        .run(|conn| {
            Ok(conn
                .batch_execute(
                    "INSERT INTO rooms (code, name, host_id, is_private, is_chat_enabled, status, \
                     was_playing, is_playing, position, position_at, created_at, owner_id) \
                     VALUES ('CCCCCCCCCC', 'x', 1, FALSE, TRUE, 'open', FALSE, FALSE, 0, 1, 1, 999)",
                )
                .is_err())
        })
        .await
        .unwrap();
    assert!(refused, "a room owned by nobody is refused");

    // The down migrations return to the old schema (a co-host becomes a
    // viewer), and migrating again works.
    let appointed = apply(
        &load(&db, &graced).await,
        Command::SetRole {
            actor: UserId(2),
            target: UserId(1),
            role: AssignedRole::CoHost,
        },
        8100,
    );
    save(&db, &back, &appointed, 8100).await;
    db.run(move |conn| {
        let to_err = |e: Box<dyn std::error::Error + Send + Sync>| {
            PersistenceError::Migration(e.to_string())
        };
        let role = match conn {
            DbConnection::Sqlite(c) => {
                let source = FileBasedMigrations::from_path(format!("{root}/sqlite"))
                    .map_err(|e| PersistenceError::Migration(e.to_string()))?;
                // The queue's, then the roles'.
                c.revert_last_migration(source.clone()).map_err(to_err)?;
                c.revert_last_migration(source).map_err(to_err)?;
                diesel::sql_query("SELECT role AS column_name FROM participants WHERE user_id = 1 AND room_id = 2")
                    .get_result::<OneText>(c)?
            }
            DbConnection::Postgresql(c) => {
                let source = FileBasedMigrations::from_path(format!("{root}/postgres"))
                    .map_err(|e| PersistenceError::Migration(e.to_string()))?;
                // The queue's, then the roles'.
                c.revert_last_migration(source.clone()).map_err(to_err)?;
                c.revert_last_migration(source).map_err(to_err)?;
                diesel::sql_query("SELECT role AS column_name FROM participants WHERE user_id = 1 AND room_id = 2")
                    .get_result::<OneText>(c)?
            }
        };
        assert_eq!(role.column_name, "viewer");
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(db.migrate().await.unwrap().applied.len(), 2);
    let again = db.room_by_code(&grace).await.unwrap().unwrap().0;
    assert_eq!((again.owner, again.host), (UserId(2), UserId(2)));
    assert_eq!(again.role_of(UserId(1)), Some(Role::Viewer));
}

#[derive(diesel::QueryableByName)]
struct OneText {
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

/// A room loaded for one command holds only the people named, saving it
/// touches only them, and the sweeper's questions (who co-hosts, which
/// rooms change by themselves) are answered without loading anyone.
async fn a_command_reads_only_the_people_it_needs(backend: Backend) {
    use watchparty_domain::PeopleNeeded;
    let (db, _dir) = database(backend).await;
    let (room, host) = room(&db).await;
    let (ana, bob) = (user(&db, "ana").await, user(&db, "bob").await);
    let mut after = apply(&room, Command::Join { user: ana }, 2);
    after = apply(&after, Command::Join { user: bob }, 2);
    let role = Command::SetRole {
        actor: host,
        target: ana,
        role: AssignedRole::CoHost,
    };
    after = apply(&after, role, 3);
    let mute = Command::Mute {
        actor: host,
        target: bob,
        duration: Some(BanDuration::from_secs(10).unwrap()),
    };
    after = apply(&after, mute, 3_000);
    save(&db, &room, &after, 3_000).await;
    assert_eq!(db.co_hosts(room.id).await.unwrap(), vec![ana]);

    let only_bob = PeopleNeeded::Only(vec![bob]);
    let (partial, _) = db.room_with(&room.code, &only_bob).await.unwrap().unwrap();
    let loaded: Vec<UserId> = partial.participants.keys().copied().collect();
    assert_eq!(loaded, vec![bob]);
    let nobody = PeopleNeeded::Only(Vec::new());
    let (bare, _) = db.room_with(&room.code, &nobody).await.unwrap().unwrap();
    assert!(bare.participants.is_empty() && bare.bans.is_empty());
    assert_eq!((bare.host, bare.owner), (host, host));

    // Saving a partial room leaves everyone it did not load as they were.
    let unmute = Command::Unmute {
        actor: host,
        target: bob,
    };
    let mut with_host = db
        .room_with(&room.code, &PeopleNeeded::Only(vec![host, bob]))
        .await
        .unwrap()
        .unwrap()
        .0;
    let unmuted = apply(&with_host, unmute, 4_000);
    save(&db, &with_host, &unmuted, 4_000).await;
    with_host = load(&db, &room).await;
    assert_eq!(with_host.participants.len(), 3);
    assert_eq!(with_host.role_of(ana), Some(Role::CoHost));
    assert!(!with_host.participants[&bob].is_muted_at(Millis(4_000)));

    // Which rooms change by themselves: a lapsing mute or ban.
    assert!(db.rooms_due(Millis(100_000)).await.unwrap().is_empty());
    let mute_again = Command::Mute {
        actor: host,
        target: bob,
        duration: Some(BanDuration::from_secs(10).unwrap()),
    };
    let muted = apply(&with_host, mute_again, 5_000);
    save(&db, &with_host, &muted, 5_000).await;
    assert!(db.rooms_due(Millis(14_999)).await.unwrap().is_empty());
    assert_eq!(
        db.rooms_due(Millis(15_000)).await.unwrap(),
        vec![room.code.clone()]
    );
}

/// Two instances seeking from the same playback version, or changing
/// different settings from the same room: one write wins, the other finds
/// the room changed (and applies its command again to what won).
async fn racing_playback_and_settings_changes_have_one_winner(backend: Backend) {
    let (db, _dir) = database(backend).await;
    let (room, host) = room(&db).await;
    let seek = |to: f64| Command::Playback {
        actor: host,
        action: PlaybackAction::Seek(Position::new(to).unwrap()),
    };
    let (a, b) = (apply(&room, seek(10.0), 5), apply(&room, seek(20.0), 5));
    assert_eq!(a.playback.version, b.playback.version);
    let (first, second) = tokio::join!(
        db.save_room(&room, &a, Millis(5)),
        db.save_room(&room, &b, Millis(5))
    );
    assert!(
        first.unwrap() ^ second.unwrap(),
        "exactly one seek is stored"
    );
    let stored = load(&db, &room).await;
    assert_eq!(stored.playback.version, room.playback.version + 1);
    // Applied again to what won, the loser's seek moves the version on.
    let again = apply(&stored, seek(30.0), 6);
    save(&db, &stored, &again, 6).await;
    assert_eq!(
        load(&db, &room).await.playback.version,
        room.playback.version + 2
    );

    let rename = watchparty_domain::SettingsChange {
        name: Some(RoomName::parse("renamed").unwrap()),
        ..Default::default()
    };
    let hide = watchparty_domain::SettingsChange {
        is_private: Some(true),
        ..Default::default()
    };
    let now = load(&db, &room).await;
    let update = |change| Command::UpdateSettings {
        actor: host,
        change,
    };
    let (renamed, hidden) = (apply(&now, update(rename), 7), apply(&now, update(hide), 7));
    let (first, second) = tokio::join!(
        db.save_room(&now, &renamed, Millis(7)),
        db.save_room(&now, &hidden, Millis(7))
    );
    assert!(first.unwrap() ^ second.unwrap(), "one settings write wins");
    let stored = load(&db, &room).await;
    let settings = &stored.settings;
    assert!(
        (settings.name.as_str() == "renamed") ^ settings.is_private,
        "exactly one of the two changes is stored: {settings:?}"
    );

    // A mute lapsing, settled by two sweepers at once: one stores it (and
    // announces it); the other's whole save is rolled back.
    let bob = user(&db, "bob").await;
    let now = load(&db, &room).await;
    let joined = apply(&now, Command::Join { user: bob }, 8);
    save(&db, &now, &joined, 8).await;
    let mute = Command::Mute {
        actor: host,
        target: bob,
        duration: Some(BanDuration::from_secs(1).unwrap()),
    };
    let muted = apply(&joined, mute, 8);
    save(&db, &joined, &muted, 8).await;
    let lapsed = muted.lapse_due(Millis(2_000)).unwrap().room;
    let (first, second) = tokio::join!(
        db.save_room(&muted, &lapsed, Millis(2_000)),
        db.save_room(&muted, &lapsed, Millis(2_000))
    );
    assert!(
        first.unwrap() ^ second.unwrap(),
        "one sweeper settles the lapse"
    );
    // Two instances joining the same user at once: one row.
    let cy = user(&db, "cy").await;
    let now = load(&db, &room).await;
    let with_cy = apply(&now, Command::Join { user: cy }, 9);
    let (first, second) = tokio::join!(
        db.save_room(&now, &with_cy, Millis(9)),
        db.save_room(&now, &with_cy, Millis(9))
    );
    assert!(first.unwrap() ^ second.unwrap(), "one join stores the row");
    assert!(load(&db, &room).await.participants.contains_key(&cy));
}

/// The queue's storage: items in order, votes, a move touching one key, the
/// current item following an advance, the timer column, and two changes
/// from one `queue_version` of which only the first lands.
async fn the_queue_round_trips_and_racing_changes_have_one_winner(backend: Backend) {
    use watchparty_domain::{
        AddPosition, Command, IfCurrent, ItemDuration, PlaybackAction, Position, QueueOp,
    };
    let (db, _dir) = database(backend).await;
    let (room, host) = room(&db).await;
    let reload = |db: &Database, code: RoomCode| {
        let db = db.clone();
        async move { db.room_by_code(&code).await.unwrap().unwrap().0 }
    };
    // Three adds: the first becomes current, the others wait.
    let mut current = room.clone();
    for n in 0..3 {
        let id = db.reserve_item_id().await.unwrap();
        let (_, waiting) = db.queue_of(current.id).await.unwrap();
        let op = QueueOp::Add {
            actor: current.queue_actor(host, Millis(10 + n)),
            id,
            media_url: watchparty_domain::MediaUrl::parse(&format!("https://v.example/{n}"))
                .unwrap(),
            title: None,
            duration: Some(ItemDuration::from_secs(60.0).unwrap()),
            position: AddPosition::End,
        };
        let applied = current
            .apply_queue(op, waiting.clone(), Millis(10 + n))
            .unwrap();
        let after = applied.outcome.room.clone();
        let saved = db
            .save_queue(
                &current,
                &after,
                (waiting, applied.queue.queue.items),
                Millis(10 + n),
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(saved);
        current = reload(&db, room.code.clone()).await;
        assert_eq!(current, after, "the room round-trips with its current item");
    }
    let (now_current, waiting) = db.queue_of(room.id).await.unwrap();
    assert_eq!(now_current, current.current_item);
    assert_eq!(waiting.len(), 2);
    assert!(waiting[0].order < waiting[1].order);

    // A vote on a waiting item, then a move of the last to the front.
    let voted = current
        .apply_queue(
            QueueOp::Vote {
                user: host,
                item: waiting[1].id,
            },
            waiting.clone(),
            Millis(20),
        )
        .unwrap();
    assert!(db
        .save_queue(
            &current,
            &voted.outcome.room,
            (waiting.clone(), voted.queue.queue.items.clone()),
            Millis(20),
            Vec::new()
        )
        .await
        .unwrap());
    let current = reload(&db, room.code.clone()).await;
    let (_, waiting) = db.queue_of(room.id).await.unwrap();
    assert_eq!(waiting[1].votes.len(), 1);
    let moved = current
        .apply_queue(
            QueueOp::Move {
                actor: current.queue_actor(host, Millis(30)),
                item: waiting[1].id,
                after: None,
                if_version: Some(current.queue_version),
            },
            waiting.clone(),
            Millis(30),
        )
        .unwrap();
    // A second change from the same version loses: nothing of it is written.
    let removed = current
        .apply_queue(
            QueueOp::Remove {
                actor: current.queue_actor(host, Millis(30)),
                item: waiting[0].id,
            },
            waiting.clone(),
            Millis(30),
        )
        .unwrap();
    assert!(db
        .save_queue(
            &current,
            &moved.outcome.room,
            (waiting.clone(), moved.queue.queue.items.clone()),
            Millis(30),
            Vec::new()
        )
        .await
        .unwrap());
    assert!(!db
        .save_queue(
            &current,
            &removed.outcome.room,
            (waiting.clone(), removed.queue.queue.items.clone()),
            Millis(30),
            Vec::new()
        )
        .await
        .unwrap());
    let current = reload(&db, room.code.clone()).await;
    let (_, after_move) = db.queue_of(room.id).await.unwrap();
    assert_eq!(after_move.len(), 2, "the losing removal left the item");
    assert_eq!(after_move[0].id, waiting[1].id, "moved to the front");
    assert_eq!(after_move[0].votes.len(), 1, "with its vote");

    // Playing, the room is due at the current item's end; an advance
    // makes the front item current and deletes the played one.
    let play = Command::Playback {
        actor: host,
        action: PlaybackAction::Play(Position::new(30.0).unwrap()),
    };
    let playing = current
        .apply(
            play,
            Millis(1_000),
            watchparty_domain::HostGrace::from_secs(600),
        )
        .unwrap()
        .room;
    assert!(db
        .save_room(&current, &playing, Millis(1_000))
        .await
        .unwrap());
    assert_eq!(
        db.rooms_due(Millis(30_999)).await.unwrap(),
        Vec::<RoomCode>::new()
    );
    assert_eq!(
        db.rooms_due(Millis(31_000)).await.unwrap(),
        vec![room.code.clone()]
    );
    let playing = reload(&db, room.code.clone()).await;
    let advanced = playing
        .apply_queue(
            QueueOp::Advance {
                actor: playing.queue_actor(host, Millis(2_000)),
                if_current: IfCurrent::Unchecked,
            },
            after_move.clone(),
            Millis(2_000),
        )
        .unwrap();
    assert!(db
        .save_queue(
            &playing,
            &advanced.outcome.room,
            (after_move.clone(), advanced.queue.queue.items.clone()),
            Millis(2_000),
            Vec::new()
        )
        .await
        .unwrap());
    let last = reload(&db, room.code.clone()).await;
    assert_eq!(
        last.current_item.as_ref().map(|i| i.id),
        Some(after_move[0].id)
    );
    assert_eq!(last.current_item.as_ref().map(|i| i.votes.len()), Some(1));
    assert_eq!(last.playback.item, Some(after_move[0].id));
    let (_, left) = db.queue_of(room.id).await.unwrap();
    assert_eq!(
        left.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![after_move[1].id]
    );
    assert_eq!(
        db.rooms_due(Millis(61_999)).await.unwrap(),
        Vec::<RoomCode>::new()
    );
    assert_eq!(
        db.rooms_due(Millis(62_000)).await.unwrap(),
        vec![room.code.clone()]
    );
}
