//! Random histories of adds, removals, moves, votes, advances and mode
//! changes against the queue, checking what every room relies on: play
//! order is a permutation of the waiting items; an advance removes exactly
//! the item that becomes current; a stale check changes nothing; one vote
//! per user whatever the sequence of PUT and DELETE; `queue_version` grows
//! by exactly one per accepted change and never otherwise; the limits are
//! never exceeded; the manual order is the one a plain list would give.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use watchparty_domain::{
    capabilities, Actor, AddPosition, Control, IfCurrent, ItemDuration, ItemId, MediaUrl, Millis,
    PlaybackState, Position, Queue, QueueChange, QueueMode, QueueOp, QueueRefusal, Rate, Role,
    RoomName, RoomSettings, UserId, MAX_QUEUE_ITEMS, MAX_QUEUE_ITEMS_PER_USER,
};

const USERS: i64 = 5;

#[derive(Debug, Clone)]
enum Step {
    Add {
        user: i64,
        next: bool,
        timed: bool,
    },
    Remove {
        user: i64,
        pick: usize,
    },
    Move {
        user: i64,
        pick: usize,
        after: Option<usize>,
        stale: bool,
    },
    Vote {
        user: i64,
        pick: usize,
        cast: bool,
    },
    Advance {
        user: i64,
        check: u8,
    },
    Ended {
        user: i64,
        pick: usize,
    },
    Auto {
        elapsed_ms: i64,
    },
    Mode {
        vote: bool,
    },
    Patch {
        clear: bool,
    },
    /// Many adds by one user in a row, to reach the limits.
    Flood {
        user: i64,
        times: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let user = 0..USERS;
    prop_oneof![
        6 => (user.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(user, next, timed)| Step::Add { user, next, timed }),
        2 => (user.clone(), any::<usize>()).prop_map(|(user, pick)| Step::Remove { user, pick }),
        3 => (user.clone(), any::<usize>(), proptest::option::of(any::<usize>()), any::<bool>())
            .prop_map(|(user, pick, after, stale)| Step::Move { user, pick, after, stale }),
        4 => (user.clone(), any::<usize>(), any::<bool>())
            .prop_map(|(user, pick, cast)| Step::Vote { user, pick, cast }),
        2 => (user.clone(), 0u8..4).prop_map(|(user, check)| Step::Advance { user, check }),
        1 => (user.clone(), any::<usize>()).prop_map(|(user, pick)| Step::Ended { user, pick }),
        1 => (0i64..200_000).prop_map(|elapsed_ms| Step::Auto { elapsed_ms }),
        1 => any::<bool>().prop_map(|vote| Step::Mode { vote }),
        1 => any::<bool>().prop_map(|clear| Step::Patch { clear }),
        1 => (user, 1usize..60).prop_map(|(user, times)| Step::Flood { user, times }),
    ]
}

/// User 0 hosts, 1 is a co-host, the others are viewers; playback is open
/// to everyone so that viewers' advances are accepted too.
fn actor(user: i64) -> Actor {
    let settings = RoomSettings {
        control: Control::Everyone,
        ..RoomSettings::named(RoomName::parse("props").unwrap())
    };
    let role = match user {
        0 => Role::Host,
        1 => Role::CoHost,
        _ => Role::Viewer,
    };
    Actor {
        user: UserId(user),
        capabilities: capabilities(role, &settings, false),
    }
}

fn url(id: i64) -> MediaUrl {
    MediaUrl::parse(&format!("https://v.example/{id}")).unwrap()
}

/// Any item known to the queue, or one that is not, by `pick`.
fn pick_item(queue: &Queue, pick: usize) -> ItemId {
    let known: Vec<ItemId> = queue
        .current
        .iter()
        .chain(queue.items.iter())
        .map(|i| i.id)
        .collect();
    known
        .get(pick % (known.len() + 1))
        .copied()
        .unwrap_or(ItemId(-1))
}

/// What a plain list and a vote table say the queue should hold.
#[derive(Default)]
struct Model {
    manual: Vec<ItemId>,
    votes: BTreeMap<ItemId, BTreeSet<UserId>>,
}

fn ids(queue: &Queue) -> Vec<ItemId> {
    queue.items.iter().map(|i| i.id).collect()
}

fn check_invariants(queue: &Queue, model: &Model) {
    // Play order is a permutation of the waiting items.
    let mut played: Vec<ItemId> = queue.play_order().iter().map(|i| i.id).collect();
    let mut waiting = ids(queue);
    played.sort();
    waiting.sort();
    assert_eq!(played, waiting);
    let unique: BTreeSet<ItemId> = waiting.iter().copied().collect();
    assert_eq!(unique.len(), waiting.len(), "ids are unique");
    assert!(queue.current_id().is_none_or(|c| !unique.contains(&c)));
    // Order keys are strictly increasing: the stored order is the manual one.
    assert!(queue.items.windows(2).all(|w| w[0].order < w[1].order));
    assert_eq!(
        ids(queue),
        model.manual,
        "the manual order matches a plain list"
    );
    // Limits.
    assert!(queue.items.len() <= MAX_QUEUE_ITEMS);
    for user in 0..USERS {
        assert!(queue.waiting_of(UserId(user)) <= MAX_QUEUE_ITEMS_PER_USER);
    }
    // Votes: exactly the users whose last word on the item was PUT.
    for item in queue.current.iter().chain(queue.items.iter()) {
        let expected = model.votes.get(&item.id).cloned().unwrap_or_default();
        assert_eq!(item.votes, expected, "votes of {:?}", item.id);
    }
    // Vote mode: most votes first, then oldest.
    if queue.mode == QueueMode::Vote {
        let order = queue.play_order();
        assert!(order.windows(2).all(|w| {
            (w[0].vote_count(), std::cmp::Reverse(w[0].added_at))
                >= (w[1].vote_count(), std::cmp::Reverse(w[1].added_at))
        }));
    }
}

fn playback_at(at: i64) -> PlaybackState {
    PlaybackState {
        is_playing: true,
        position: Position::ZERO,
        updated_at: Millis(at),
        rate: Rate::NORMAL,
        version: 0,
        item: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_every_queue_rule(steps in proptest::collection::vec(step(), 1..120)) {
        let mut queue = Queue::new(QueueMode::Manual);
        let mut model = Model::default();
        let mut next_id = 1i64;
        // When the current item started playing, for the automatic advance.
        let mut started_at = 0i64;
        let mut now = 0i64;
        for step in steps {
            now += 1_000;
            let mut auto_at = None;
            let mut ops = Vec::new();
            match step {
                Step::Add { user, next, timed } => {
                    ops.push(QueueOp::Add {
                        actor: actor(user),
                        id: ItemId(next_id),
                        media_url: url(next_id),
                        title: None,
                        duration: timed.then(|| ItemDuration::from_secs(60.0).unwrap()),
                        position: if next { AddPosition::Next } else { AddPosition::End },
                    });
                    next_id += 1;
                }
                Step::Flood { user, times } => {
                    for _ in 0..times {
                        ops.push(QueueOp::Add {
                            actor: actor(user),
                            id: ItemId(next_id),
                            media_url: url(next_id),
                            title: None,
                            duration: None,
                            position: AddPosition::End,
                        });
                        next_id += 1;
                    }
                }
                Step::Remove { user, pick } => ops.push(QueueOp::Remove {
                    actor: actor(user),
                    item: pick_item(&queue, pick),
                }),
                Step::Move { user, pick, after, stale } => ops.push(QueueOp::Move {
                    actor: actor(user),
                    item: pick_item(&queue, pick),
                    after: after.map(|a| pick_item(&queue, a)),
                    if_version: stale.then_some(queue.version.wrapping_sub(1)),
                }),
                Step::Vote { user, pick, cast } => {
                    let (user, item) = (UserId(user), pick_item(&queue, pick));
                    ops.push(if cast {
                        QueueOp::Vote { user, item }
                    } else {
                        QueueOp::Unvote { user, item }
                    });
                }
                Step::Advance { user, check } => {
                    let if_current = match check {
                        0 => IfCurrent::Unchecked,
                        1 => IfCurrent::NoItem,
                        2 => IfCurrent::Item(queue.current_id().unwrap_or(ItemId(-1))),
                        _ => IfCurrent::Item(ItemId(-2)),
                    };
                    ops.push(QueueOp::Advance { actor: actor(user), if_current });
                }
                Step::Ended { user, pick } => ops.push(QueueOp::Ended {
                    actor: actor(user),
                    item: pick_item(&queue, pick),
                }),
                Step::Auto { elapsed_ms } => {
                    if let Some(current) = queue.current_id() {
                        // The timer fires at some instant after the start;
                        // the clock of the other steps goes on as it was.
                        auto_at = Some(started_at + elapsed_ms);
                        ops.push(QueueOp::AutoAdvance {
                            item: current,
                            playback: playback_at(started_at),
                        });
                    }
                }
                Step::Mode { vote } => ops.push(QueueOp::SetMode {
                    actor: actor(0),
                    mode: if vote { QueueMode::Vote } else { QueueMode::Manual },
                }),
                Step::Patch { clear } => {
                    let replacement = (!clear).then(|| (ItemId(next_id), url(next_id)));
                    next_id += 1;
                    ops.push(QueueOp::ReplaceCurrent { actor: actor(1), replacement });
                }
            }
            for op in ops {
                let before = queue.clone();
                let at = match op {
                    QueueOp::AutoAdvance { .. } => auto_at.unwrap_or(now),
                    _ => now,
                };
                let result = queue.apply(op.clone(), Millis(at));
                if let (QueueOp::AutoAdvance { .. }, Ok(_)) = (&op, &result) {
                    // Due: the current item (60 s long) played to its end.
                    prop_assert!(at >= started_at + 60_000);
                }
                let outcome = match result {
                    Err(refusal) => {
                        // A stale check (and any refusal) changes nothing;
                        // the refusal reports the version as it is.
                        if let QueueRefusal::StaleVersion { version, current } = refusal {
                            prop_assert_eq!(version, before.version);
                            prop_assert_eq!(current, before.current_id());
                        }
                        if let QueueOp::Move { if_version: Some(v), item, after, actor } = &op {
                            if *v != before.version
                                && Some(*item) != *after
                                && actor.capabilities.contains(watchparty_domain::Capability::ManageQueue)
                            {
                                let stale = matches!(refusal, QueueRefusal::StaleVersion { .. });
                                prop_assert!(stale, "{:?}", refusal);
                            }
                        }
                        continue;
                    }
                    Ok(outcome) => outcome,
                };
                // A stale if_version is never accepted.
                if let QueueOp::Move { if_version: Some(v), .. } = &op {
                    prop_assert_eq!(*v, before.version);
                }
                match &outcome.event {
                    None => {
                        prop_assert_eq!(&outcome.queue, &before, "no event, no change");
                    }
                    Some(event) => {
                        prop_assert_eq!(outcome.queue.version, before.version + 1);
                        prop_assert_eq!(event.version, outcome.queue.version);
                        prop_assert_ne!(&outcome.queue, &before);
                    }
                }
                let after = outcome.queue.clone();
                // Keep the model in step.
                match (&op, outcome.event.as_ref().map(|e| e.op)) {
                    (_, None) => {}
                    (QueueOp::Add { id, position, .. }, Some(QueueChange::Added)) => {
                        if before.mode == QueueMode::Manual && *position == AddPosition::Next {
                            model.manual.insert(0, *id);
                        } else {
                            model.manual.push(*id);
                        }
                    }
                    (QueueOp::Add { .. }, Some(QueueChange::Advanced))
                    | (QueueOp::ReplaceCurrent { .. }, Some(QueueChange::Advanced)) => {
                        prop_assert_eq!(ids(&after), ids(&before), "the waiting items stay");
                        started_at = now;
                    }
                    (QueueOp::Remove { item, .. }, Some(QueueChange::Removed)) => {
                        prop_assert!(before.current_id() != Some(*item));
                        model.manual.retain(|i| i != item);
                    }
                    (QueueOp::Move { item, after: target, .. }, Some(QueueChange::Moved)) => {
                        prop_assert_eq!(before.mode, QueueMode::Manual);
                        model.manual.retain(|i| i != item);
                        let at = match target {
                            None => 0,
                            Some(t) => model.manual.iter().position(|i| i == t).unwrap() + 1,
                        };
                        model.manual.insert(at, *item);
                    }
                    (QueueOp::Vote { user, item }, Some(QueueChange::Voted)) => {
                        model.votes.entry(*item).or_default().insert(*user);
                    }
                    (QueueOp::Unvote { user, item }, Some(QueueChange::Voted)) => {
                        model.votes.entry(*item).or_default().remove(user);
                    }
                    (
                        QueueOp::Advance { .. } | QueueOp::Ended { .. } | QueueOp::AutoAdvance { .. },
                        Some(QueueChange::Advanced),
                    ) => {
                        // Exactly the item that becomes current leaves the waiting items.
                        let expected = before.next_item().map(|i| i.id);
                        prop_assert_eq!(after.current_id(), expected);
                        let mut left = ids(&before);
                        left.retain(|i| Some(*i) != expected);
                        prop_assert_eq!(ids(&after), left);
                        model.manual.retain(|i| Some(*i) != expected);
                        if let QueueOp::AutoAdvance { .. } = op {
                            prop_assert!(event_by_is_none(&outcome.event));
                        }
                        started_at = now;
                    }
                    (QueueOp::SetMode { .. }, Some(QueueChange::Moved)) => {
                        prop_assert!(outcome.event.as_ref().unwrap().item.is_none());
                    }
                    (op, change) => prop_assert!(false, "{op:?} gave {change:?}"),
                }
                queue = after;
                check_invariants(&queue, &model);
            }
        }
    }

    /// A stale `if_current` or `if_version` is refused whatever else the
    /// request says, and refused alike when asked again.
    #[test]
    fn a_stale_check_changes_nothing(
        adds in 0usize..8,
        wrong in 1u64..5,
        pick in any::<usize>(),
        after in proptest::option::of(any::<usize>()),
    ) {
        let mut queue = Queue::new(QueueMode::Manual);
        for id in 0..adds {
            let op = QueueOp::Add {
                actor: actor(0),
                id: ItemId(id as i64),
                media_url: url(id as i64),
                title: None,
                duration: None,
                position: AddPosition::End,
            };
            queue = queue.apply(op, Millis(id as i64)).unwrap().queue;
        }
        let stale = QueueRefusal::StaleVersion { version: queue.version, current: queue.current_id() };
        let item = pick_item(&queue, pick);
        let after = after.map(|a| pick_item(&queue, a)).filter(|a| *a != item);
        let moving = QueueOp::Move {
            actor: actor(1),
            item,
            after,
            if_version: Some(queue.version + wrong),
        };
        prop_assert_eq!(queue.apply(moving, Millis(99)), Err(stale));
        let wrong_current = match queue.current_id() {
            Some(_) => IfCurrent::NoItem,
            None => IfCurrent::Item(ItemId(-1)),
        };
        let advancing = QueueOp::Advance { actor: actor(1), if_current: wrong_current };
        prop_assert_eq!(queue.apply(advancing, Millis(99)), Err(stale));
    }
}

fn event_by_is_none(event: &Option<watchparty_domain::QueueEvent>) -> bool {
    event.as_ref().is_some_and(|e| e.by.is_none())
}
