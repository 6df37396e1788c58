//! Random command sequences against the room state machine, checking the
#![allow(clippy::unwrap_used)]
//! invariants every embedder relies on.

use proptest::prelude::*;
use watchparty_domain::{
    ChatText, Command, Event, HostGrace, Millis, PlaybackAction, Position, Rejection, Room,
    RoomCode, RoomId, RoomName, RoomSettings, RoomStatus, SettingsChange, UserId,
};

const HOST: UserId = UserId(1);
const GRACE: u64 = 30;

fn room() -> Room {
    let settings = RoomSettings {
        name: RoomName::parse("room").unwrap(),
        is_private: false,
        is_chat_enabled: true,
        media_url: None,
        ..RoomSettings::named(RoomName::parse("room").unwrap())
    };
    Room::new(
        RoomId(1),
        RoomCode::from_entropy([1; 10]),
        HOST,
        settings,
        Millis(0),
    )
}

fn actor() -> impl Strategy<Value = UserId> {
    prop_oneof![3 => Just(HOST), 1 => (2i64..5).prop_map(UserId)]
}

fn position() -> impl Strategy<Value = Position> {
    (0.0f64..1000.0).prop_map(|s| Position::new(s).unwrap())
}

fn command() -> impl Strategy<Value = Command> {
    let action = prop_oneof![
        position().prop_map(PlaybackAction::Play),
        position().prop_map(PlaybackAction::Pause),
        position().prop_map(PlaybackAction::Seek),
    ];
    prop_oneof![
        3 => Just(Command::HostConnected),
        3 => Just(Command::HostDisconnected),
        6 => (actor(), action).prop_map(|(actor, action)| Command::Playback { actor, action }),
        2 => actor().prop_map(|actor| Command::PostChat { actor, text: hello() }),
        1 => actor().prop_map(|actor| Command::Delete { actor }),
        1 => (actor(), any::<bool>()).prop_map(|(actor, chat)| Command::UpdateSettings {
            actor,
            change: SettingsChange { is_chat_enabled: Some(chat), ..SettingsChange::default() },
        }),
    ]
}

/// A step: time passes (up to a whole grace period and a bit), then a command.
fn steps() -> impl Strategy<Value = Vec<(i64, Command)>> {
    prop::collection::vec((0i64..(GRACE as i64 * 1000 + 5000), command()), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn invariants_hold_for_any_sequence(steps in steps()) {
        let grace = HostGrace::from_secs(GRACE);
        let mut room = room();
        let mut now = Millis(0);
        let mut in_grace = false;
        let mut ended = false;
        for (delay, command) in steps {
            let before_room = room.clone();
            let before_now = now;
            now = now.plus_millis(delay);

            // Settling an overdue grace closes the room, once.
            if let Some(outcome) = room.expire_if_due(now) {
                prop_assert!(in_grace, "only a room in grace can time out");
                prop_assert_eq!(outcome.room.status, RoomStatus::Closed);
                prop_assert!(room.expire_if_due(now).is_some());
                prop_assert!(outcome.room.expire_if_due(now).is_none(), "closing happens once");
                in_grace = false;
                room = outcome.room;
            }

            let is_playback_by_other = matches!(&command, Command::Playback { actor, .. } if *actor != HOST);
            let moves_playback = matches!(&command, Command::Playback { .. });
            match room.apply(command, now, grace) {
                Ok(outcome) => {
                    prop_assert!(!is_playback_by_other, "only the host changes playback");
                    prop_assert!(!room.status.is_final() || outcome.room.status == RoomStatus::Deleted);
                    for event in &outcome.events {
                        match event {
                            Event::GraceStarted { .. } => {
                                prop_assert!(!in_grace);
                                in_grace = true;
                            }
                            // Grace ends in exactly one of resume or close.
                            Event::HostReturned { .. } => {
                                prop_assert!(in_grace);
                                in_grace = false;
                            }
                            Event::Closed { .. } => {
                                prop_assert!(!ended, "a room ends once");
                                ended = true;
                                in_grace = false;
                            }
                            _ => {}
                        }
                    }
                    if !moves_playback {
                        // Without a host control, position never goes backwards.
                        let before = before_room.playback.position_at(before_now);
                        let after = outcome.room.playback.position_at(now);
                        prop_assert!(after + 1e-9 >= before, "{} -> {}", before, after);
                    }
                    room = outcome.room;
                }
                Err(rejection) => {
                    if is_playback_by_other && !room.status_at(now).is_final() {
                        prop_assert_eq!(rejection, Rejection::NotHost);
                    }
                }
            }
            // A closed or deleted room never reopens.
            if before_room.status.is_final() {
                prop_assert!(room.status.is_final());
            }
            if matches!(room.status, RoomStatus::Grace { .. }) {
                prop_assert!(!room.playback.is_playing, "playback is frozen during grace");
            }
        }
    }
}

#[test]
fn returning_host_resumes_from_the_frozen_time() {
    let grace = HostGrace::from_secs(GRACE);
    let play = Command::Playback {
        actor: HOST,
        action: PlaybackAction::Play(Position::new(100.0).unwrap()),
    };
    let room = room().apply(play, Millis(0), grace).unwrap().room;
    let away = room
        .apply(Command::HostDisconnected, Millis(10_000), grace)
        .unwrap()
        .room;
    assert_eq!(away.playback.position_at(Millis(20_000)), 110.0);
    let back = away
        .apply(Command::HostConnected, Millis(20_000), grace)
        .unwrap();
    assert_eq!(back.room.status, RoomStatus::Open);
    assert!(back.room.playback.is_playing);
    assert_eq!(back.room.playback.position_at(Millis(21_000)), 111.0);
}

#[test]
fn grace_deadline_closes_and_rejects_late_host() {
    let grace = HostGrace::from_secs(GRACE);
    let away = room()
        .apply(Command::HostDisconnected, Millis(0), grace)
        .unwrap()
        .room;
    assert!(away.expire_if_due(Millis(29_999)).is_none());
    let late = Millis(30_000);
    assert_eq!(
        away.apply(Command::HostConnected, late, grace),
        Err(Rejection::Closed)
    );
    let closed = away.expire_if_due(late).unwrap();
    assert_eq!(closed.room.status, RoomStatus::Closed);
}

#[test]
fn chat_respects_the_flag_and_grace_does_not_stop_it() {
    let grace = HostGrace::from_secs(GRACE);
    let away = room()
        .apply(Command::HostDisconnected, Millis(0), grace)
        .unwrap()
        .room;
    assert!(away
        .apply(
            Command::PostChat {
                actor: UserId(3),
                text: hello()
            },
            Millis(1),
            grace
        )
        .is_ok());
    let off = SettingsChange {
        is_chat_enabled: Some(false),
        ..SettingsChange::default()
    };
    let muted = away
        .apply(
            Command::UpdateSettings {
                actor: HOST,
                change: off,
            },
            Millis(2),
            grace,
        )
        .unwrap()
        .room;
    assert_eq!(
        muted.apply(
            Command::PostChat {
                actor: UserId(3),
                text: hello()
            },
            Millis(3),
            grace
        ),
        Err(Rejection::ChatDisabled)
    );
}

fn hello() -> ChatText {
    match ChatText::parse("hello") {
        Ok(Some(text)) => text,
        _ => unreachable!("\"hello\" is a chat message"),
    }
}
