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
    users_rooms_members_and_messages
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
    };
    assert!(
        matches!(
            db.create_room(duplicate).await,
            Err(PersistenceError::Conflict)
        ),
        "codes are never reused"
    );

    let host_membership = db.participant(room.id, host).await.unwrap().unwrap();
    assert!(host_membership.is_host);
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
    assert!(!first.is_host);

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
