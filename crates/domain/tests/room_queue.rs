//! The queue as part of the room (`Room::apply_queue`): a change of current
//! item resets playback, grace refuses an advance, and the room's own
//! `media_url`, `queue_version` and `item` follow the queue.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use watchparty_domain::{
    AddPosition, Command, Event, HostGrace, IfCurrent, ItemDuration, ItemId, MediaUrl, Millis,
    PlaybackAction, Position, QueueChange, QueueItem, QueueOp, Rejection, Room, RoomCode, RoomId,
    RoomName, RoomSettings, RoomStatus, UserId,
};

const HOST: UserId = UserId(1);
fn grace() -> HostGrace {
    HostGrace::from_secs(600)
}

fn url(n: i64) -> MediaUrl {
    MediaUrl::parse(&format!("https://videos.example/{n}.mp4")).unwrap()
}

fn room() -> Room {
    let settings = RoomSettings::named(RoomName::parse("Queue night").unwrap());
    let room = Room::new(
        RoomId(1),
        RoomCode::from_entropy([5; 10]),
        HOST,
        settings,
        Millis(0),
    );
    room.apply(Command::HostConnected, Millis(1), grace())
        .unwrap()
        .room
}

fn add(room: &Room, id: i64, duration: Option<f64>, now: i64) -> (Room, Vec<QueueItem>) {
    let op = QueueOp::Add {
        actor: room.queue_actor(HOST, Millis(now)),
        id: ItemId(id),
        media_url: url(id),
        title: None,
        duration: duration.map(|d| ItemDuration::from_secs(d).unwrap()),
        position: AddPosition::End,
    };
    let applied = room.apply_queue(op, Vec::new(), Millis(now)).unwrap();
    (applied.outcome.room, applied.queue.queue.items)
}

#[test]
fn the_first_item_becomes_current_paused_at_zero() {
    let start = room();
    let op = QueueOp::Add {
        actor: start.queue_actor(HOST, Millis(10)),
        id: ItemId(7),
        media_url: url(7),
        title: None,
        duration: None,
        position: AddPosition::End,
    };
    let applied = start.apply_queue(op, Vec::new(), Millis(10)).unwrap();
    let after = &applied.outcome.room;
    assert_eq!(after.settings.media_url, Some(url(7)));
    assert_eq!(after.playback.item, Some(ItemId(7)));
    assert_eq!(after.queue_version, 1);
    assert_eq!(after.playback.version, start.playback.version + 1);
    assert!(!after.playback.is_playing);
    assert!(matches!(
        &applied.outcome.events[..],
        [Event::QueueChanged(change), Event::ItemChanged { .. }] if change.op == QueueChange::Advanced
    ));
}

#[test]
fn an_advance_while_playing_plays_the_next_item_from_zero_and_is_due_at_its_end() {
    let (first, _) = add(&room(), 1, None, 10);
    let (with_next, waiting) = add(&first, 2, Some(30.0), 20);
    let play = Command::Playback {
        actor: HOST,
        action: PlaybackAction::Play(Position::new(100.0).unwrap()),
    };
    let playing = with_next.apply(play, Millis(1_000), grace()).unwrap().room;
    assert_eq!(
        playing.advance_due_at(),
        None,
        "the first item's length is unknown"
    );
    let op = QueueOp::Advance {
        actor: playing.queue_actor(HOST, Millis(5_000)),
        if_current: IfCurrent::Item(ItemId(1)),
    };
    let applied = playing.apply_queue(op, waiting, Millis(5_000)).unwrap();
    let after = applied.outcome.room;
    assert!(after.playback.is_playing);
    assert_eq!(after.playback.position_at(Millis(5_000)), 0.0);
    assert_eq!(after.playback.item, Some(ItemId(2)));
    assert_eq!(after.advance_due_at(), Some(Millis(35_000)));
    assert!(applied.queue.queue.items.is_empty());
}

#[test]
fn while_the_host_is_away_an_advance_is_refused_and_ended_ignored() {
    let (first, _) = add(&room(), 1, None, 10);
    let (with_next, waiting) = add(&first, 2, None, 20);
    let away = with_next
        .apply(Command::HostDisconnected, Millis(30), grace())
        .unwrap()
        .room;
    let advance = QueueOp::Advance {
        actor: away.queue_actor(HOST, Millis(40)),
        if_current: IfCurrent::Unchecked,
    };
    assert_eq!(
        away.apply_queue(advance, waiting.clone(), Millis(40)),
        Err(Rejection::Conflict)
    );
    let ended = QueueOp::Ended {
        actor: away.queue_actor(HOST, Millis(40)),
        item: ItemId(1),
    };
    assert_eq!(
        away.apply_queue(ended, waiting, Millis(40)),
        Err(Rejection::HostAway)
    );
    assert_eq!(away.advance_due_at(), None);
}

#[test]
fn a_first_item_added_in_grace_does_not_resume_playing() {
    let start = room();
    let play = Command::Playback {
        actor: HOST,
        action: PlaybackAction::Play(Position::ZERO),
    };
    let playing = start.apply(play, Millis(5), grace()).unwrap().room;
    let away = playing
        .apply(Command::HostDisconnected, Millis(10), grace())
        .unwrap()
        .room;
    assert!(matches!(
        away.status,
        RoomStatus::Grace {
            was_playing: true,
            ..
        }
    ));
    let (added, _) = add(&away, 3, None, 20);
    assert!(matches!(
        added.status,
        RoomStatus::Grace {
            was_playing: false,
            ..
        }
    ));
    let back = added
        .apply(Command::HostConnected, Millis(30), grace())
        .unwrap()
        .room;
    assert!(!back.playback.is_playing);
}
