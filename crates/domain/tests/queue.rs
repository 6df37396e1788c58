//! The queue's rules, one example each: contract §12 and §13 rules 16–19.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use watchparty_domain::{
    capabilities, Actor, AddPosition, Control, IfCurrent, ItemDuration, ItemId, Millis,
    PlaybackState, Position, Queue, QueueChange, QueueLimit, QueueMode, QueueOp, QueueOutcome,
    QueueRefusal, QueueTitle, Rate, Role, RoomName, RoomSettings, UserId, ValidationError,
    MAX_QUEUE_ITEMS, MAX_QUEUE_ITEMS_PER_USER, ORDER_GAP,
};

const HOST: UserId = UserId(1);
const CO: UserId = UserId(2);
const ANA: UserId = UserId(3);
const BO: UserId = UserId(4);

fn settings() -> RoomSettings {
    RoomSettings::named(RoomName::parse("Queue night").unwrap())
}

fn actor(user: UserId) -> Actor {
    let role = match user {
        HOST => Role::Host,
        CO => Role::CoHost,
        _ => Role::Viewer,
    };
    Actor {
        user,
        capabilities: capabilities(role, &settings(), false),
    }
}

fn url(n: i64) -> watchparty_domain::MediaUrl {
    watchparty_domain::MediaUrl::parse(&format!("https://videos.example/{n}.mp4")).unwrap()
}

fn add_op(user: UserId, id: i64, position: AddPosition) -> QueueOp {
    QueueOp::Add {
        actor: actor(user),
        id: ItemId(id),
        media_url: url(id),
        title: None,
        duration: None,
        position,
    }
}

fn apply(queue: &Queue, op: QueueOp, now: i64) -> QueueOutcome {
    queue.apply(op, Millis(now)).unwrap()
}

/// A queue with item 1 current and the given items waiting, added in order.
fn with_waiting(mode: QueueMode, waiting: &[(UserId, i64)]) -> Queue {
    let mut queue = apply(&Queue::new(mode), add_op(HOST, 1, AddPosition::End), 0).queue;
    for (n, (user, id)) in waiting.iter().enumerate() {
        queue = apply(
            &queue,
            add_op(*user, *id, AddPosition::End),
            10 * (n as i64 + 1),
        )
        .queue;
    }
    queue
}

fn order(queue: &Queue) -> Vec<i64> {
    queue.play_order().iter().map(|i| i.id.0).collect()
}

#[test]
fn the_first_item_added_with_none_current_becomes_current_at_once() {
    let empty = Queue::new(QueueMode::Manual);
    let outcome = apply(&empty, add_op(ANA, 1, AddPosition::Next), 5);
    assert_eq!(outcome.queue.current_id(), Some(ItemId(1)));
    assert!(outcome.queue.items.is_empty(), "it never waits");
    let event = outcome.event.unwrap();
    // Rule 16: a change of current item is `advanced`, exactly one event, +1.
    assert_eq!(
        (event.op, event.version, event.by),
        (QueueChange::Advanced, 1, Some(ANA))
    );
    assert!(event.changes_current());
    assert_eq!(event.item.unwrap().id, ItemId(1));
    assert_eq!(
        outcome.item.unwrap().added_at,
        Millis(5),
        "the 201 answer shows it"
    );
    // The second one waits.
    let second = apply(&outcome.queue, add_op(ANA, 2, AddPosition::End), 6);
    assert_eq!(second.event.unwrap().op, QueueChange::Added);
    assert_eq!(order(&second.queue), [2]);
    assert_eq!(second.queue.version, 2);
}

#[test]
fn manual_order_is_as_added_and_next_goes_first() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3)]);
    let queue = apply(&queue, add_op(BO, 4, AddPosition::Next), 100).queue;
    let queue = apply(&queue, add_op(ANA, 5, AddPosition::End), 110).queue;
    assert_eq!(order(&queue), [4, 2, 3, 5]);
    assert_eq!(queue.next_item().unwrap().id, ItemId(4));
}

#[test]
fn vote_mode_plays_most_votes_first_then_oldest_and_ignores_position() {
    let queue = with_waiting(QueueMode::Vote, &[(ANA, 2), (BO, 3), (ANA, 4)]);
    let queue = apply(&queue, add_op(BO, 5, AddPosition::Next), 100).queue;
    assert_eq!(
        order(&queue),
        [2, 3, 4, 5],
        "no votes: oldest first, `next` ignored"
    );
    let vote = |user, item| QueueOp::Vote {
        user,
        item: ItemId(item),
    };
    let queue = apply(&queue, vote(ANA, 4), 200).queue;
    let queue = apply(&queue, vote(BO, 4), 201).queue;
    let queue = apply(&queue, vote(BO, 5), 202).queue;
    assert_eq!(order(&queue), [4, 5, 2, 3]);
}

#[test]
fn votes_are_allowed_in_manual_mode_and_do_not_change_the_order() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3)]);
    let outcome = apply(
        &queue,
        QueueOp::Vote {
            user: ANA,
            item: ItemId(3),
        },
        50,
    );
    let event = outcome.event.unwrap();
    assert_eq!((event.op, event.by), (QueueChange::Voted, Some(ANA)));
    assert_eq!(outcome.item.unwrap().vote_count(), 1);
    assert_eq!(order(&outcome.queue), [2, 3]);
}

#[test]
fn one_vote_per_user_and_withdrawing_a_vote_never_cast_is_fine() {
    let queue = with_waiting(QueueMode::Vote, &[(ANA, 2)]);
    let vote = QueueOp::Vote {
        user: BO,
        item: ItemId(2),
    };
    let once = apply(&queue, vote.clone(), 50);
    let twice = apply(&once.queue, vote, 51);
    assert!(twice.event.is_none(), "a second PUT changes nothing");
    assert_eq!(twice.queue, once.queue);
    let item = twice.item.unwrap();
    assert_eq!(item.vote_count(), 1);
    assert!(
        item.voted_by(BO) && !item.voted_by(ANA),
        "voted_by_me per reader"
    );
    // A user may vote for several items, and for the current one.
    let current = apply(
        &twice.queue,
        QueueOp::Vote {
            user: BO,
            item: ItemId(1),
        },
        52,
    );
    assert_eq!(current.queue.current.as_ref().unwrap().vote_count(), 1);
    // DELETE of a vote never cast: 200, nothing changes.
    let never = apply(
        &queue,
        QueueOp::Unvote {
            user: ANA,
            item: ItemId(2),
        },
        53,
    );
    assert!(never.event.is_none());
    assert_eq!(never.item.unwrap().vote_count(), 0);
    let withdrawn = apply(
        &once.queue,
        QueueOp::Unvote {
            user: BO,
            item: ItemId(2),
        },
        54,
    );
    assert_eq!(withdrawn.event.unwrap().op, QueueChange::Voted);
    assert_eq!(withdrawn.queue.version, once.queue.version + 1);
}

#[test]
fn votes_on_an_unknown_item_or_another_rooms_item_are_not_found() {
    let ours = with_waiting(QueueMode::Vote, &[(ANA, 2)]);
    let theirs_item = ItemId(77); // an item of another room's queue
    for op in [
        QueueOp::Vote {
            user: ANA,
            item: theirs_item,
        },
        QueueOp::Unvote {
            user: ANA,
            item: theirs_item,
        },
    ] {
        assert_eq!(ours.apply(op, Millis(9)), Err(QueueRefusal::NotFound));
    }
}

#[test]
fn adding_needs_add_to_queue() {
    let closed = RoomSettings {
        viewers_can_queue: false,
        ..settings()
    };
    let viewer = Actor {
        user: ANA,
        capabilities: capabilities(Role::Viewer, &closed, false),
    };
    let op = QueueOp::Add {
        actor: viewer,
        id: ItemId(1),
        media_url: url(1),
        title: None,
        duration: None,
        position: AddPosition::End,
    };
    let queue = Queue::new(QueueMode::Manual);
    assert_eq!(queue.apply(op, Millis(0)), Err(QueueRefusal::Forbidden));
    assert_eq!(QueueRefusal::Forbidden.code(), "forbidden");
}

#[test]
fn twenty_waiting_items_per_user_and_two_hundred_per_room() {
    let mut queue = with_waiting(QueueMode::Manual, &[]);
    let mut next_id = 2;
    // One account adds ten thousand times: 20 are kept, the rest refused.
    let mut refused = 0;
    for _ in 0..10_000 {
        match queue.apply(add_op(ANA, next_id, AddPosition::End), Millis(next_id)) {
            Ok(outcome) => queue = outcome.queue,
            Err(refusal) => {
                assert_eq!(refusal, QueueRefusal::QueueFull(QueueLimit::User));
                assert_eq!(refusal.code(), "queue_full");
                refused += 1;
            }
        }
        next_id += 1;
    }
    assert_eq!((refused, queue.waiting_of(ANA)), (10_000 - 20, 20));
    // The others are unaffected, until the room holds 200 waiting items.
    let mut user = 100;
    while queue.items.len() < MAX_QUEUE_ITEMS {
        let outcome = apply(
            &queue,
            add_op(UserId(user), next_id, AddPosition::End),
            next_id,
        );
        queue = outcome.queue;
        next_id += 1;
        if queue.waiting_of(UserId(user)) == MAX_QUEUE_ITEMS_PER_USER {
            user += 1;
        }
    }
    let version = queue.version;
    assert_eq!(
        queue.apply(add_op(UserId(999), next_id, AddPosition::End), Millis(0)),
        Err(QueueRefusal::QueueFull(QueueLimit::Room))
    );
    // An advance frees a place.
    let queue = apply(
        &queue,
        QueueOp::Advance {
            actor: actor(HOST),
            if_current: IfCurrent::Unchecked,
        },
        1,
    )
    .queue;
    assert_eq!(queue.version, version + 1);
    assert!(queue
        .apply(add_op(UserId(999), next_id, AddPosition::End), Millis(0))
        .is_ok());
}

#[test]
fn removing_own_items_or_with_manage_queue_never_the_current_one() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3)]);
    let remove = |who, item| QueueOp::Remove {
        actor: actor(who),
        item: ItemId(item),
    };
    assert_eq!(
        queue.apply(remove(ANA, 3), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    let own = apply(&queue, remove(ANA, 2), 1);
    let event = own.event.unwrap();
    assert_eq!(
        (event.op, event.item.unwrap().id),
        (QueueChange::Removed, ItemId(2))
    );
    assert_eq!(order(&own.queue), [3]);
    let managed = apply(&queue, remove(CO, 3), 1);
    assert_eq!(order(&managed.queue), [2]);
    assert_eq!(
        queue.apply(remove(CO, 9), Millis(1)),
        Err(QueueRefusal::NotFound)
    );
    // Removing the current item (added by the host): advance instead.
    assert_eq!(
        queue.apply(remove(HOST, 1), Millis(1)),
        Err(QueueRefusal::Conflict)
    );
    assert_eq!(
        queue.apply(remove(ANA, 1), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    assert_eq!(QueueRefusal::Conflict.code(), "conflict");
}

fn move_op(who: UserId, item: i64, after: Option<i64>, if_version: Option<u64>) -> QueueOp {
    QueueOp::Move {
        actor: actor(who),
        item: ItemId(item),
        after: after.map(ItemId),
        if_version,
    }
}

#[test]
fn moving_after_an_item_or_to_the_front() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3), (ANA, 4)]);
    let front = apply(&queue, move_op(CO, 4, None, Some(queue.version)), 1);
    assert_eq!(order(&front.queue), [4, 2, 3]);
    let event = front.event.unwrap();
    assert_eq!(
        (event.op, event.item.unwrap().id),
        (QueueChange::Moved, ItemId(4))
    );
    assert_eq!(front.queue.version, queue.version + 1);
    let after = apply(&front.queue, move_op(HOST, 4, Some(3), None), 2);
    assert_eq!(order(&after.queue), [2, 3, 4]);
    // A move to where the item already is changes nothing.
    let same = apply(&queue, move_op(HOST, 3, Some(2), None), 3);
    assert!(same.event.is_none());
    assert_eq!(same.queue, queue);
}

#[test]
fn a_move_gives_one_item_a_new_key_until_a_gap_is_used_up() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3), (ANA, 4), (BO, 5)]);
    let keys = |q: &Queue| q.items.iter().map(|i| (i.id, i.order)).collect::<Vec<_>>();
    let moved = apply(&queue, move_op(HOST, 5, Some(2), None), 1);
    assert!(!moved.renumbered);
    let before = keys(&queue);
    let after = keys(&moved.queue);
    let changed: Vec<_> = after.iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(changed.len(), 1, "one row to store: {after:?}");
    assert_eq!(changed[0].0, ItemId(5));
    // Moving items back and forth into the same gap halves it each time;
    // once it is used up every item is renumbered, and the outcome says so.
    let mut queue = queue;
    let mut renumbered_at = None;
    for step in 0..80 {
        let (item, after) = if step % 2 == 0 { (4, 2) } else { (3, 2) };
        let outcome = apply(&queue, move_op(HOST, item, Some(after), None), step);
        if outcome.renumbered && renumbered_at.is_none() {
            renumbered_at = Some(step);
            let keys: Vec<i64> = outcome.queue.items.iter().map(|i| i.order).collect();
            assert!(keys.windows(2).all(|w| w[1] - w[0] == ORDER_GAP));
        }
        queue = outcome.queue;
        assert!(queue.items.windows(2).all(|w| w[0].order < w[1].order));
    }
    let at = renumbered_at.unwrap();
    assert!(at >= 30, "a gap of 2^32 lasts about 32 halvings, not {at}");
}

#[test]
fn move_refusals_in_the_contracts_order() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3)]);
    assert_eq!(
        queue.apply(move_op(ANA, 3, None, None), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    let itself = queue.apply(move_op(HOST, 3, Some(3), None), Millis(1));
    assert_eq!(itself, Err(QueueRefusal::AfterItself));
    assert_eq!(QueueRefusal::AfterItself.code(), "validation_error");
    assert_eq!(
        queue.apply(move_op(HOST, 9, None, None), Millis(1)),
        Err(QueueRefusal::NotFound)
    );
    assert_eq!(
        queue.apply(move_op(HOST, 3, Some(9), None), Millis(1)),
        Err(QueueRefusal::NotFound)
    );
    assert_eq!(
        queue.apply(move_op(HOST, 1, None, None), Millis(1)),
        Err(QueueRefusal::Conflict),
        "the current item does not wait"
    );
    let stale = queue.apply(move_op(HOST, 3, None, Some(queue.version - 1)), Millis(1));
    assert_eq!(
        stale,
        Err(QueueRefusal::StaleVersion {
            version: queue.version,
            current: Some(ItemId(1)),
        })
    );
    assert_eq!(stale.unwrap_err().code(), "stale_version");
    let voting = apply(
        &queue,
        QueueOp::SetMode {
            actor: actor(HOST),
            mode: QueueMode::Vote,
        },
        2,
    )
    .queue;
    assert_eq!(
        voting.apply(move_op(HOST, 3, None, None), Millis(3)),
        Err(QueueRefusal::Conflict)
    );
}

fn advance(who: UserId, if_current: IfCurrent) -> QueueOp {
    QueueOp::Advance {
        actor: actor(who),
        if_current,
    }
}

#[test]
fn advancing_makes_the_first_waiting_item_current_and_removes_it() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3)]);
    let outcome = apply(&queue, advance(CO, IfCurrent::Item(ItemId(1))), 1);
    assert_eq!(outcome.queue.current_id(), Some(ItemId(2)));
    assert_eq!(order(&outcome.queue), [3]);
    let event = outcome.event.unwrap();
    assert_eq!((event.op, event.by), (QueueChange::Advanced, Some(CO)));
    assert_eq!(event.item.unwrap().id, ItemId(2));
    assert_eq!(outcome.queue.version, queue.version + 1);
    // Viewers do not control playback by default.
    assert_eq!(
        queue.apply(advance(ANA, IfCurrent::Unchecked), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    let everyone = RoomSettings {
        control: Control::Everyone,
        ..settings()
    };
    let viewer = Actor {
        user: ANA,
        capabilities: capabilities(Role::Viewer, &everyone, false),
    };
    let op = QueueOp::Advance {
        actor: viewer,
        if_current: IfCurrent::Unchecked,
    };
    assert!(queue.apply(op, Millis(1)).is_ok());
}

#[test]
fn if_current_absent_null_or_an_item() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2)]);
    let stale = Err(QueueRefusal::StaleVersion {
        version: queue.version,
        current: Some(ItemId(1)),
    });
    assert_eq!(
        queue.apply(advance(HOST, IfCurrent::NoItem), Millis(1)),
        stale
    );
    assert_eq!(
        queue.apply(advance(HOST, IfCurrent::Item(ItemId(2))), Millis(1)),
        stale
    );
    assert!(queue
        .apply(advance(HOST, IfCurrent::Unchecked), Millis(1))
        .is_ok());
    assert_eq!(IfCurrent::from_field(None), IfCurrent::Unchecked);
    assert_eq!(IfCurrent::from_field(Some(None)), IfCurrent::NoItem);
    // Two controllers advance at once from the same state: one wins.
    let first = apply(&queue, advance(HOST, IfCurrent::Item(ItemId(1))), 2);
    let second = first
        .queue
        .apply(advance(CO, IfCurrent::Item(ItemId(1))), Millis(2));
    assert!(matches!(second, Err(QueueRefusal::StaleVersion { .. })));
}

#[test]
fn advancing_with_nothing_waiting_leaves_no_item_and_an_empty_queue_is_a_conflict() {
    let queue = with_waiting(QueueMode::Manual, &[]);
    let outcome = apply(&queue, advance(HOST, IfCurrent::Unchecked), 1);
    assert_eq!(outcome.queue.current, None);
    let event = outcome.event.unwrap();
    assert_eq!((event.op, event.item), (QueueChange::Advanced, None));
    assert_eq!(
        outcome
            .queue
            .apply(advance(HOST, IfCurrent::NoItem), Millis(2)),
        Err(QueueRefusal::Conflict)
    );
    // With no current item but something waiting (after `media_url: null`),
    // an advance with `if_current: null` starts the first waiting item.
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2)]);
    let cleared = apply(
        &queue,
        QueueOp::ReplaceCurrent {
            actor: actor(HOST),
            replacement: None,
        },
        3,
    )
    .queue;
    let started = apply(&cleared, advance(HOST, IfCurrent::NoItem), 4).queue;
    assert_eq!(started.current_id(), Some(ItemId(2)));
}

#[test]
fn ended_advances_only_if_that_item_is_still_current() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2)]);
    let ended = |who, item| QueueOp::Ended {
        actor: actor(who),
        item: ItemId(item),
    };
    assert_eq!(
        queue.apply(ended(ANA, 1), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    let once = apply(&queue, ended(HOST, 1), 1);
    assert_eq!(once.queue.current_id(), Some(ItemId(2)));
    // The same ENDED from a second controller's client arrives late.
    assert!(matches!(
        once.queue.apply(ended(CO, 1), Millis(2)),
        Err(QueueRefusal::StaleVersion { .. })
    ));
}

fn playing(at: i64, position: f64, rate: f64) -> PlaybackState {
    PlaybackState {
        is_playing: true,
        position: Position::new(position).unwrap(),
        updated_at: Millis(at),
        rate: Rate::new(rate).unwrap(),
        version: 3,
        item: None,
    }
}

#[test]
fn the_automatic_advance_is_due_at_the_current_items_duration() {
    let timed = QueueOp::Add {
        actor: actor(HOST),
        id: ItemId(1),
        media_url: url(1),
        title: None,
        duration: Some(ItemDuration::from_secs(90.0).unwrap()),
        position: AddPosition::End,
    };
    let queue = apply(&Queue::new(QueueMode::Manual), timed, 0).queue;
    let queue = apply(&queue, add_op(ANA, 2, AddPosition::End), 1).queue;
    // Playing from 30 s at 1 000 ms: 60 s to go.
    let playback = playing(1_000, 30.0, 1.0);
    assert_eq!(queue.due_at(&playback), Some(Millis(61_000)));
    assert_eq!(
        queue.due_at(&playing(1_000, 30.0, 2.0)),
        Some(Millis(31_000))
    );
    assert_eq!(
        queue.due_at(&playing(1_000, 95.0, 1.0)),
        Some(Millis(1_000))
    );
    let paused = PlaybackState {
        is_playing: false,
        ..playback
    };
    assert_eq!(queue.due_at(&paused), None, "paused: nothing to arm");
    let auto = |item| QueueOp::AutoAdvance {
        item: ItemId(item),
        playback,
    };
    assert_eq!(
        queue.apply(auto(1), Millis(60_999)),
        Err(QueueRefusal::NotDue)
    );
    let outcome = apply(&queue, auto(1), 61_000);
    let event = outcome.event.unwrap();
    assert_eq!((event.op, event.by), (QueueChange::Advanced, None));
    // Decided once: a second timer (another instance) finds it done.
    assert!(matches!(
        outcome.queue.apply(auto(1), Millis(61_500)),
        Err(QueueRefusal::StaleVersion { .. })
    ));
    // Item 2 has no duration: only ENDED advances it.
    assert_eq!(outcome.queue.due_at(&playing(61_000, 0.0, 1.0)), None);
}

#[test]
fn a_patch_of_queue_mode_is_one_moved_event_without_an_item() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2)]);
    let set = |who, mode| QueueOp::SetMode {
        actor: actor(who),
        mode,
    };
    assert_eq!(
        queue.apply(set(ANA, QueueMode::Vote), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    let outcome = apply(&queue, set(CO, QueueMode::Vote), 1);
    let event = outcome.event.unwrap();
    assert_eq!((event.op, event.item), (QueueChange::Moved, None));
    assert_eq!(outcome.queue.mode, QueueMode::Vote);
    assert_eq!(outcome.queue.version, queue.version + 1);
    assert!(apply(&outcome.queue, set(CO, QueueMode::Vote), 2)
        .event
        .is_none());
}

#[test]
fn a_patch_of_media_url_replaces_the_current_item() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2)]);
    let patch = |who, replacement| QueueOp::ReplaceCurrent {
        actor: actor(who),
        replacement,
    };
    assert_eq!(
        queue.apply(patch(ANA, Some((ItemId(9), url(9)))), Millis(1)),
        Err(QueueRefusal::Forbidden)
    );
    let outcome = apply(&queue, patch(HOST, Some((ItemId(9), url(9)))), 7);
    let current = outcome.queue.current.clone().unwrap();
    assert_eq!(
        (current.id, current.added_by, current.added_at),
        (ItemId(9), HOST, Millis(7))
    );
    assert_eq!(order(&outcome.queue), [2], "the waiting items stay");
    let event = outcome.event.unwrap();
    assert_eq!(
        (event.op, event.item.unwrap().id),
        (QueueChange::Advanced, ItemId(9))
    );
    // The same video again changes nothing.
    assert!(
        apply(&outcome.queue, patch(HOST, Some((ItemId(10), url(9)))), 8)
            .event
            .is_none()
    );
    let cleared = apply(&outcome.queue, patch(HOST, None), 9);
    assert_eq!(cleared.queue.current, None);
    assert_eq!(cleared.event.unwrap().item, None);
}

#[test]
fn titles_are_one_line_of_at_most_200_characters() {
    assert_eq!(QueueTitle::parse("  ").unwrap(), None);
    assert_eq!(
        QueueTitle::parse(" Act I ").unwrap().unwrap().as_str(),
        "Act I"
    );
    assert!(QueueTitle::parse(&"é".repeat(200)).unwrap().is_some());
    assert_eq!(
        QueueTitle::parse(&"é".repeat(201)),
        Err(ValidationError::Title)
    );
    for bad in ["a\nb", "a\u{0}b", "a\u{1b}[31m", "x\u{202E}y", "a\tb"] {
        assert_eq!(
            QueueTitle::parse(bad),
            Err(ValidationError::Characters("title")),
            "{bad:?}"
        );
    }
}

#[test]
fn media_urls_and_durations_are_checked_before_the_queue_sees_them() {
    for bad in [
        "javascript:alert(1)".to_owned(),
        "file:///etc/passwd".to_owned(),
        "data:text/html,hi".to_owned(),
        format!("https://x.io/{}", "a".repeat(2049 - 13)),
    ] {
        assert!(watchparty_domain::MediaUrl::parse(&bad).is_err(), "{bad}");
    }
    let longest = format!("https://x.io/{}", "a".repeat(2048 - 13));
    assert!(watchparty_domain::MediaUrl::parse(&longest).is_ok());
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1_000_000.5] {
        assert_eq!(
            ItemDuration::from_secs(bad),
            Err(ValidationError::ItemDuration)
        );
    }
    assert_eq!(ItemDuration::from_secs(0.5).unwrap().seconds(), 0.5);
}

#[test]
fn an_id_already_in_the_queue_is_refused() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2)]);
    for id in [1, 2] {
        assert_eq!(
            queue.apply(add_op(BO, id, AddPosition::End), Millis(1)),
            Err(QueueRefusal::Conflict)
        );
    }
}

#[test]
fn a_room_created_with_a_video_starts_with_it_current() {
    let item = apply(
        &Queue::new(QueueMode::Manual),
        add_op(HOST, 1, AddPosition::End),
        0,
    )
    .item
    .unwrap();
    let queue = Queue::starting_with(QueueMode::Vote, item);
    assert_eq!((queue.current_id(), queue.version), (Some(ItemId(1)), 0));
    let next = apply(&queue, add_op(ANA, 2, AddPosition::End), 1);
    assert_eq!(next.event.unwrap().op, QueueChange::Added);
}

#[test]
fn a_queue_loaded_from_storage_is_put_in_key_order() {
    let queue = with_waiting(QueueMode::Manual, &[(ANA, 2), (BO, 3), (ANA, 4)]);
    let queue = apply(&queue, move_op(HOST, 4, None, None), 50).queue;
    let mut shuffled = queue.items.clone();
    shuffled.reverse();
    let loaded = Queue::loaded(queue.mode, queue.version, queue.current.clone(), shuffled);
    assert_eq!(loaded, queue);
    assert_eq!(order(&loaded), [4, 2, 3]);
}
