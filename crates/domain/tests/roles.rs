//! Roles, host continuity, moderation and playback rate (contract §7, §8,
//! §11 and the settled edge cases of §13), one rule per test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use watchparty_domain::{
    AssignedRole, BanDuration, BanKind, Capability, Command, Control, Event, Expiry, HostChange,
    HostChangeReason, HostGrace, Millis, Missing, OnHostTimeout, ParticipantChange, PlaybackAction,
    Position, Rate, Reason, Rejection, RejoinAfter, Role, Room, RoomCode, RoomId, RoomName,
    RoomSettings, RoomStatus, SettingField, SettingsChange, UserId, ValidationError,
};

const OWNER: UserId = UserId(1);
const ANA: UserId = UserId(2);
const BOB: UserId = UserId(3);
const CAT: UserId = UserId(4);
fn grace() -> HostGrace {
    HostGrace::from_secs(60)
}

fn ok(room: &Room, command: Command, now: i64) -> (Room, Vec<Event>) {
    let outcome = room.apply(command, Millis(now), grace()).unwrap();
    (outcome.room, outcome.events)
}

fn err(room: &Room, command: Command, now: i64) -> Rejection {
    room.apply(command, Millis(now), grace()).unwrap_err()
}

/// A room owned and hosted by OWNER, joined by ANA (t=10), BOB (t=20), CAT (t=30).
fn party() -> Room {
    let mut room = Room::new(
        RoomId(1),
        RoomCode::from_entropy([5; 10]),
        OWNER,
        RoomSettings::named(RoomName::parse("room").unwrap()),
        Millis(0),
    );
    for (user, at) in [(ANA, 10), (BOB, 20), (CAT, 30)] {
        room = ok(&room, Command::Join { user }, at).0;
    }
    room
}

fn set_role(room: &Room, actor: UserId, target: UserId, role: AssignedRole, now: i64) -> Room {
    ok(
        room,
        Command::SetRole {
            actor,
            target,
            role,
        },
        now,
    )
    .0
}

fn play(actor: UserId, at: f64) -> Command {
    Command::Playback {
        actor,
        action: PlaybackAction::Play(Position::new(at).unwrap()),
    }
}

fn host_change(events: &[Event]) -> HostChange {
    match events.first() {
        Some(Event::HostChanged(change)) => *change,
        other => panic!("expected HOST_CHANGED first, got {other:?}"),
    }
}

#[test]
fn a_new_room_has_its_creator_as_owner_host_and_first_participant() {
    let room = party();
    assert_eq!((room.owner, room.host, room.host_epoch), (OWNER, OWNER, 0));
    assert_eq!(room.role_of(OWNER), Some(Role::Host));
    assert_eq!(room.role_of(ANA), Some(Role::Viewer));
    assert_eq!(room.role_of(UserId(99)), None);
    assert!(room
        .capabilities_of(UserId(99), Millis(0))
        .iter()
        .next()
        .is_none());
    let order: Vec<UserId> = room
        .participants_in_order()
        .iter()
        .map(|p| p.user)
        .collect();
    assert_eq!(order, vec![OWNER, ANA, BOB, CAT]);
    // Joining again changes nothing and announces nothing.
    let (again, events) = ok(&room, Command::Join { user: ANA }, 99);
    assert_eq!((again, events), (room, vec![]));
}

#[test]
fn the_host_appoints_and_demotes_co_hosts_and_nobody_else_may() {
    let room = party();
    let (with_ana, events) = ok(
        &room,
        Command::SetRole {
            actor: OWNER,
            target: ANA,
            role: AssignedRole::CoHost,
        },
        100,
    );
    assert_eq!(with_ana.role_of(ANA), Some(Role::CoHost));
    assert_eq!(
        with_ana.participants[&ANA].became_co_host_at,
        Some(Millis(100))
    );
    assert!(matches!(
        &events[..],
        [Event::ParticipantUpdated { participant, change: ParticipantChange::Role(Role::CoHost), by: Some(OWNER) }]
            if participant.user == ANA
    ));
    // A co-host may not manage roles: that is the host's alone (403 not_host).
    let appoint = Command::SetRole {
        actor: ANA,
        target: BOB,
        role: AssignedRole::CoHost,
    };
    assert_eq!(err(&with_ana, appoint, 101), Rejection::NotHost);
    // The host is not a role target (409 conflict); strangers are 404.
    let demote_host = Command::SetRole {
        actor: OWNER,
        target: OWNER,
        role: AssignedRole::Viewer,
    };
    assert_eq!(err(&with_ana, demote_host, 101), Rejection::Conflict);
    let stranger = Command::SetRole {
        actor: OWNER,
        target: UserId(99),
        role: AssignedRole::CoHost,
    };
    assert_eq!(
        err(&with_ana, stranger, 101),
        Rejection::NotFound(Missing::Participant)
    );
    // A role it already has: 200, nothing sent.
    let (same, events) = ok(
        &with_ana,
        Command::SetRole {
            actor: OWNER,
            target: ANA,
            role: AssignedRole::CoHost,
        },
        102,
    );
    assert_eq!((same, events), (with_ana.clone(), vec![]));
    let back = set_role(&with_ana, OWNER, ANA, AssignedRole::Viewer, 103);
    assert_eq!(back.role_of(ANA), Some(Role::Viewer));
    assert_eq!(back.participants[&ANA].became_co_host_at, None);
}

#[test]
fn co_hosts_control_edit_and_moderate_and_viewers_only_when_the_room_says() {
    let room = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    let (played, events) = ok(&room, play(ANA, 5.0), 200);
    assert!(played.playback.is_playing);
    assert!(matches!(events[..], [Event::PlaybackChanged { .. }]));
    assert_eq!(err(&room, play(BOB, 5.0), 200), Rejection::NotHost);

    let everyone = SettingsChange {
        control: Some(Control::Everyone),
        ..SettingsChange::default()
    };
    assert_eq!(
        err(
            &room,
            Command::UpdateSettings {
                actor: BOB,
                change: everyone.clone()
            },
            201
        ),
        Rejection::Forbidden
    );
    let (open, events) = ok(
        &room,
        Command::UpdateSettings {
            actor: ANA,
            change: everyone,
        },
        201,
    );
    match &events[..] {
        [Event::SettingsChanged {
            playback_reset: false,
            fields,
        }] => {
            assert_eq!(fields, &vec![SettingField::Control]);
            assert!(fields[0].affects_capabilities());
        }
        other => panic!("{other:?}"),
    }
    assert!(open.may(BOB, Capability::ControlPlayback, Millis(202)));
    assert!(ok(&open, play(BOB, 7.0), 202).0.playback.is_playing);
}

#[test]
fn only_the_owner_deletes_even_after_handing_the_room_over() {
    let room = party();
    let (handed, _) = ok(
        &room,
        Command::ChangeHost {
            actor: OWNER,
            target: ANA,
            target_connected: true,
        },
        100,
    );
    assert_eq!(
        err(&handed, Command::Delete { actor: ANA }, 101),
        Rejection::NotOwner
    );
    let (gone, _) = ok(&handed, Command::Delete { actor: OWNER }, 101);
    assert_eq!(gone.status, RoomStatus::Deleted);
}

#[test]
fn the_host_hands_over_only_to_a_connected_participant() {
    let room = party();
    let away = Command::ChangeHost {
        actor: OWNER,
        target: ANA,
        target_connected: false,
    };
    assert_eq!(err(&room, away, 100), Rejection::NotConnected);
    let stranger = Command::ChangeHost {
        actor: OWNER,
        target: UserId(99),
        target_connected: true,
    };
    assert_eq!(
        err(&room, stranger, 100),
        Rejection::NotFound(Missing::Participant)
    );
    let by_viewer = Command::ChangeHost {
        actor: BOB,
        target: BOB,
        target_connected: true,
    };
    assert_eq!(err(&room, by_viewer, 100), Rejection::Forbidden);

    let (handed, events) = ok(
        &room,
        Command::ChangeHost {
            actor: OWNER,
            target: ANA,
            target_connected: true,
        },
        100,
    );
    assert_eq!(
        host_change(&events),
        HostChange {
            host: ANA,
            previous: OWNER,
            reason: HostChangeReason::Transferred,
            host_epoch: 1,
            by: Some(OWNER),
        }
    );
    assert_eq!(
        events.len(),
        1,
        "an open room with a connected host stays open"
    );
    assert_eq!(handed.host, ANA);
    assert_eq!(handed.role_of(ANA), Some(Role::Host));
    assert_eq!(
        handed.role_of(OWNER),
        Some(Role::CoHost),
        "the previous host becomes co-host"
    );
    assert_eq!(handed.status, RoomStatus::Open);
    // Handing the room to its host changes nothing.
    let (same, events) = ok(
        &handed,
        Command::ChangeHost {
            actor: ANA,
            target: ANA,
            target_connected: true,
        },
        101,
    );
    assert_eq!((same, events), (handed, vec![]));
}

#[test]
fn the_owner_reclaims_at_any_time_and_an_away_owner_starts_a_grace() {
    let room = party();
    let handed = ok(
        &room,
        Command::ChangeHost {
            actor: OWNER,
            target: ANA,
            target_connected: true,
        },
        100,
    )
    .0;
    let playing = ok(&handed, play(ANA, 10.0), 200).0;
    // Demoted to viewer by the new host, the owner still takes the room back.
    let demoted = set_role(&playing, ANA, OWNER, AssignedRole::Viewer, 300);
    let (back, events) = ok(
        &demoted,
        Command::ChangeHost {
            actor: OWNER,
            target: OWNER,
            target_connected: false,
        },
        1_000,
    );
    assert_eq!(host_change(&events).reason, HostChangeReason::Reclaimed);
    assert_eq!(host_change(&events).host_epoch, 2);
    assert_eq!(back.host, OWNER);
    // The owner has no live socket: grace starts at once (§13 rule 5).
    match &events[..] {
        [_, Event::GraceStarted { deadline, playback }] => {
            assert_eq!(*deadline, Millis(61_000));
            assert!(!playback.is_playing);
            assert_eq!(playback.version, playing.playback.version + 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        back.status,
        RoomStatus::Grace {
            deadline: Millis(61_000),
            was_playing: true
        }
    );
    // When the owner connects, playback resumes as for any returning host.
    let (resumed, _) = ok(&back, Command::HostConnected, 2_000);
    assert!(resumed.playback.is_playing);
    assert_eq!(resumed.playback.position_at(Millis(2_000)), 10.8);
}

#[test]
fn a_co_host_claims_only_during_grace_and_the_grace_ends_paused() {
    let room = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    let playing = ok(&room, play(OWNER, 0.0), 1_000).0;
    let claim = Command::ChangeHost {
        actor: ANA,
        target: ANA,
        target_connected: true,
    };
    assert_eq!(err(&playing, claim.clone(), 2_000), Rejection::Forbidden);
    let (away, _) = ok(&playing, Command::HostDisconnected, 5_000);
    let frozen = away.playback;
    let (claimed, events) = ok(&away, claim, 6_000);
    assert_eq!(host_change(&events).reason, HostChangeReason::Claimed);
    match &events[..] {
        [_, Event::GraceEnded { playback }] => {
            assert!(!playback.is_playing, "paused until the new host plays");
            assert_eq!(playback.position, frozen.position);
            assert_eq!(playback.version, frozen.version + 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(claimed.status, RoomStatus::Open);
    assert_eq!(claimed.role_of(OWNER), Some(Role::CoHost));
    // A viewer cannot claim.
    let by_viewer = Command::ChangeHost {
        actor: BOB,
        target: BOB,
        target_connected: true,
    };
    assert_eq!(err(&away, by_viewer, 6_000), Rejection::Forbidden);
}

#[test]
fn promotion_follows_the_successor_rule() {
    let promote = SettingsChange {
        on_host_timeout: Some(OnHostTimeout::Promote),
        ..SettingsChange::default()
    };
    let room = ok(
        &party(),
        Command::UpdateSettings {
            actor: OWNER,
            change: promote,
        },
        50,
    )
    .0;
    // CAT became co-host before BOB; ANA is a viewer who joined first.
    let room = set_role(&room, OWNER, CAT, AssignedRole::CoHost, 100);
    let room = set_role(&room, OWNER, BOB, AssignedRole::CoHost, 200);
    let away = ok(&room, Command::HostDisconnected, 1_000).0;
    let due = Millis(61_000);
    assert!(away
        .expire_or_promote(Millis(60_999), &[ANA, BOB, CAT])
        .is_none());

    // The co-host connected now who became co-host first.
    let outcome = away.expire_or_promote(due, &[ANA, BOB, CAT]).unwrap();
    let change = host_change(&outcome.events);
    assert_eq!(
        (change.host, change.reason, change.by),
        (CAT, HostChangeReason::Promoted, None)
    );
    assert_eq!(outcome.room.status, RoomStatus::Open);
    assert!(matches!(outcome.events[1], Event::GraceEnded { .. }));
    // Only connected co-hosts count.
    assert_eq!(away.successor(due, &[ANA, BOB]), Some(BOB));
    // No co-host connected: the participant who joined first.
    assert_eq!(away.successor(due, &[ANA, UserId(77)]), Some(ANA));
    // A muted participant is never promoted.
    let muted = ok(
        &away,
        Command::Mute {
            actor: BOB,
            target: ANA,
            duration: None,
        },
        2_000,
    )
    .0;
    assert_eq!(muted.successor(due, &[ANA]), None);
    // Nobody connected: the room closes as in section 5.
    let closed = away.expire_or_promote(due, &[]).unwrap();
    assert_eq!(closed.room.status, RoomStatus::Closed);
    // With the default `close`, a connected co-host changes nothing.
    let default = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    let away = ok(&default, Command::HostDisconnected, 1_000).0;
    let outcome = away.expire_or_promote(due, &[ANA]).unwrap();
    assert_eq!(outcome.room.status, RoomStatus::Closed);
}

#[test]
fn becoming_host_lifts_a_mute() {
    let room = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    let muted = ok(
        &room,
        Command::Mute {
            actor: OWNER,
            target: BOB,
            duration: None,
        },
        200,
    )
    .0;
    let (handed, _) = ok(
        &muted,
        Command::ChangeHost {
            actor: OWNER,
            target: BOB,
            target_connected: true,
        },
        300,
    );
    assert!(!handed.participants[&BOB].is_muted_at(Millis(300)));
}

#[test]
fn who_may_moderate_whom() {
    let room = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    let room = set_role(&room, OWNER, BOB, AssignedRole::CoHost, 100);
    let kick = |actor, target| Command::Kick {
        actor,
        target,
        reason: None,
        rejoin_after: RejoinAfter::default(),
    };
    // A viewer holds no `moderate`.
    assert_eq!(err(&room, kick(CAT, ANA), 200), Rejection::Forbidden);
    assert_eq!(
        err(
            &room,
            Command::Mute {
                actor: CAT,
                target: ANA,
                duration: None
            },
            200
        ),
        Rejection::Forbidden
    );
    assert_eq!(
        err(
            &room,
            Command::Unban {
                actor: CAT,
                target: ANA
            },
            200
        ),
        Rejection::Forbidden
    );
    // A co-host cannot act on another co-host, the host, the owner or themself.
    for target in [BOB, OWNER, ANA] {
        assert_eq!(
            err(&room, kick(ANA, target), 200),
            Rejection::TargetOutranks,
            "{target:?}"
        );
        let ban = Command::Ban {
            actor: ANA,
            target,
            reason: None,
            duration: None,
        };
        assert_eq!(err(&room, ban, 200), Rejection::TargetOutranks);
    }
    // The host acts on co-hosts, but never on the owner once handed over.
    assert!(room.apply(kick(OWNER, ANA), Millis(200), grace()).is_ok());
    let handed = ok(
        &room,
        Command::ChangeHost {
            actor: OWNER,
            target: ANA,
            target_connected: true,
        },
        300,
    )
    .0;
    let ban_owner = Command::Ban {
        actor: ANA,
        target: OWNER,
        reason: None,
        duration: None,
    };
    assert_eq!(err(&handed, ban_owner, 400), Rejection::TargetOutranks);
    assert_eq!(
        err(&handed, kick(ANA, OWNER), 400),
        Rejection::TargetOutranks
    );
    // Kicks and mutes need a participant; a ban may name anyone.
    assert_eq!(
        err(&room, kick(OWNER, UserId(99)), 200),
        Rejection::NotFound(Missing::Participant)
    );
    let (_, events) = ok(
        &room,
        Command::Ban {
            actor: OWNER,
            target: UserId(99),
            reason: None,
            duration: None,
        },
        200,
    );
    assert!(matches!(
        &events[..],
        [Event::BanPlaced { removed: false, .. }]
    ));
}

#[test]
fn a_kick_removes_and_lets_back_after_the_delay() {
    let room = party();
    let reason = Reason::parse("  spoilers ").unwrap();
    let (kicked, events) = ok(
        &room,
        Command::Kick {
            actor: OWNER,
            target: BOB,
            reason: reason.clone(),
            rejoin_after: RejoinAfter::default(),
        },
        1_000,
    );
    match &events[..] {
        [Event::BanPlaced { ban, removed: true }] => {
            assert_eq!(ban.kind, BanKind::Kick);
            assert_eq!(ban.reason.as_ref().map(Reason::as_str), Some("spoilers"));
            assert_eq!(ban.expires, Expiry::At(Millis(301_000)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kicked.role_of(BOB), None);
    assert_eq!(
        err(&kicked, Command::Join { user: BOB }, 300_999),
        Rejection::Banned {
            until: Some(Millis(301_000))
        }
    );
    assert_eq!(kicked.next_deadline(), Some(Millis(301_000)));
    let lapsed = kicked.lapse_due(Millis(301_000)).unwrap();
    assert!(matches!(
        &lapsed.events[..],
        [Event::BanLifted {
            user: BOB,
            kind: BanKind::Kick,
            by: None
        }]
    ));
    assert!(lapsed.room.bans.is_empty());
    assert!(ok(&kicked, Command::Join { user: BOB }, 301_000)
        .0
        .participants
        .contains_key(&BOB));
}

#[test]
fn bans_until_lifted_replace_each_other_and_are_lifted_once() {
    let room = party();
    let ban = |duration| Command::Ban {
        actor: OWNER,
        target: CAT,
        reason: None,
        duration,
    };
    let (banned, events) = ok(&room, ban(None), 1_000);
    assert!(matches!(
        &events[..],
        [Event::BanPlaced { removed: true, .. }]
    ));
    assert_eq!(
        err(&banned, Command::Join { user: CAT }, 10_000_000),
        Rejection::Banned { until: None }
    );
    // Banning again replaces the ban.
    let (timed, events) = ok(
        &banned,
        ban(Some(BanDuration::from_secs(60).unwrap())),
        2_000,
    );
    assert!(matches!(
        &events[..],
        [Event::BanPlaced { removed: false, .. }]
    ));
    assert_eq!(timed.bans[&CAT].expires, Expiry::At(Millis(62_000)));
    assert_eq!(timed.active_bans(Millis(61_999)).count(), 1);
    assert_eq!(timed.active_bans(Millis(62_000)).count(), 0);
    let (lifted, events) = ok(
        &banned,
        Command::Unban {
            actor: OWNER,
            target: CAT,
        },
        3_000,
    );
    assert!(matches!(
        &events[..],
        [Event::BanLifted {
            user: CAT,
            kind: BanKind::Ban,
            by: Some(OWNER)
        }]
    ));
    assert_eq!(
        err(
            &lifted,
            Command::Unban {
                actor: OWNER,
                target: CAT
            },
            3_001
        ),
        Rejection::NotFound(Missing::Ban)
    );
}

#[test]
fn a_muted_participant_watches_but_does_not_chat_until_the_mute_lapses() {
    let room = party();
    let hello = watchparty_domain::ChatText::parse("hi").unwrap().unwrap();
    let chat = |actor| Command::PostChat {
        actor,
        text: hello.clone(),
    };
    let minute = Some(BanDuration::from_secs(60).unwrap());
    let (muted, events) = ok(
        &room,
        Command::Mute {
            actor: OWNER,
            target: ANA,
            duration: minute,
        },
        0,
    );
    assert!(matches!(
        &events[..],
        [Event::ParticipantUpdated {
            change: ParticipantChange::Muted(Expiry::At(Millis(60_000))),
            ..
        }]
    ));
    assert_eq!(
        err(&muted, chat(ANA), 59_999),
        Rejection::Muted {
            until: Some(Millis(60_000))
        }
    );
    assert!(!muted.may(ANA, Capability::Chat, Millis(59_999)));
    assert!(muted.apply(chat(BOB), Millis(1), grace()).is_ok());
    // After the expiry the mute no longer holds, and settling announces it.
    assert!(muted.apply(chat(ANA), Millis(60_000), grace()).is_ok());
    let lapsed = muted.lapse_due(Millis(60_000)).unwrap();
    assert!(matches!(
        &lapsed.events[..],
        [Event::ParticipantUpdated {
            change: ParticipantChange::Unmuted,
            by: None,
            ..
        }]
    ));
    assert!(lapsed.room.lapse_due(Millis(60_000)).is_none());
    // Unmuting someone who is not muted: 404.
    assert_eq!(
        err(
            &room,
            Command::Unmute {
                actor: OWNER,
                target: ANA
            },
            0
        ),
        Rejection::NotFound(Missing::Mute)
    );
    let forever = ok(
        &room,
        Command::Mute {
            actor: OWNER,
            target: ANA,
            duration: None,
        },
        0,
    )
    .0;
    let (again, events) = ok(
        &forever,
        Command::Mute {
            actor: OWNER,
            target: ANA,
            duration: None,
        },
        5,
    );
    assert_eq!((again, events), (forever.clone(), vec![]));
    let (free, _) = ok(
        &forever,
        Command::Unmute {
            actor: OWNER,
            target: ANA,
        },
        10,
    );
    assert!(free.apply(chat(ANA), Millis(11), grace()).is_ok());
}

#[test]
fn durations_and_reasons_are_validated() {
    assert!(BanDuration::from_secs(0).is_err());
    assert!(BanDuration::from_secs(1).is_ok());
    assert!(BanDuration::from_secs(31_536_000).is_ok());
    assert_eq!(
        BanDuration::from_secs(31_536_001),
        Err(ValidationError::Duration("duration_secs"))
    );
    assert!(BanDuration::from_secs(-5).is_err());
    assert!(RejoinAfter::from_secs(0).is_ok());
    assert!(RejoinAfter::from_secs(86_400).is_ok());
    assert_eq!(
        RejoinAfter::from_secs(86_401),
        Err(ValidationError::Duration("rejoin_after_secs"))
    );
    assert!(RejoinAfter::from_secs(-1).is_err());
    assert_eq!(RejoinAfter::default().secs(), 300);
    assert_eq!(Reason::parse("   "), Ok(None));
    assert!(Reason::parse(&"x".repeat(200)).unwrap().is_some());
    assert_eq!(
        Reason::parse(&"x".repeat(201)),
        Err(ValidationError::Reason)
    );
    assert_eq!(
        Reason::parse("a\u{202E}b"),
        Err(ValidationError::Characters("reason"))
    );
    assert!(Reason::parse("two\nlines").is_err());
}

#[test]
fn every_playback_change_raises_the_version_and_if_version_guards_it() {
    let room = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    assert_eq!(room.playback.version, 0);
    let (played, _) = ok(&room, play(OWNER, 1.0), 1_000);
    assert_eq!(played.playback.version, 1);
    // The later of two controllers acting on version 1 learns it is stale.
    let seek = |actor| Command::Playback {
        actor,
        action: PlaybackAction::Seek(Position::new(40.0).unwrap()),
    };
    let (sought, _) = ok(&played, seek(OWNER).if_version(Some(1)), 2_000);
    assert_eq!(sought.playback.version, 2);
    assert_eq!(
        err(&sought, seek(ANA).if_version(Some(1)), 2_001),
        Rejection::StaleVersion { current: 2 }
    );
    // The capability comes first: a viewer is ignored even when stale.
    assert_eq!(
        err(&sought, seek(BOB).if_version(Some(1)), 2_001),
        Rejection::NotHost
    );
    // No guard, or a current one, applies.
    assert!(sought
        .apply(seek(ANA).if_version(None), Millis(2_002), grace())
        .is_ok());
    // Chat and roles never move the version.
    let hello = watchparty_domain::ChatText::parse("hi").unwrap().unwrap();
    let (chatted, _) = ok(
        &sought,
        Command::PostChat {
            actor: BOB,
            text: hello,
        },
        3_000,
    );
    assert_eq!(chatted.playback.version, 2);
    // A new video resets playback, rate included, one version further.
    let fast = ok(
        &sought,
        Command::SetRate {
            actor: ANA,
            rate: Rate::new(2.0).unwrap(),
        },
        4_000,
    )
    .0;
    assert_eq!(fast.playback.version, 3);
    let video = SettingsChange {
        media_url: Some(Some(
            watchparty_domain::MediaUrl::parse("https://x.io/v.mp4").unwrap(),
        )),
        new_item: Some(watchparty_domain::ItemId(1)),
        ..SettingsChange::default()
    };
    let (reset, events) = ok(
        &fast,
        Command::UpdateSettings {
            actor: ANA,
            change: video,
        },
        5_000,
    );
    assert!(matches!(
        &events[..],
        [
            Event::QueueChanged(_),
            Event::SettingsChanged {
                playback_reset: true,
                ..
            }
        ]
    ));
    assert_eq!(reset.playback.version, 4);
    assert_eq!(reset.playback.item, Some(watchparty_domain::ItemId(1)));
    assert_eq!(reset.queue_version, 1);
    assert_eq!(reset.playback.rate, Rate::NORMAL);
    assert_eq!(reset.playback.position_at(Millis(9_000)), 0.0);
}

#[test]
fn rate_bounds_and_the_position_with_rate() {
    assert!(Rate::new(0.24).is_err());
    assert!(Rate::new(4.01).is_err());
    assert!(Rate::new(f64::NAN).is_err());
    assert!(Rate::new(0.25).is_ok());
    assert!(Rate::new(4.0).is_ok());
    let room = ok(&party(), play(OWNER, 100.0), 0).0;
    let (fast, events) = ok(
        &room,
        Command::SetRate {
            actor: OWNER,
            rate: Rate::new(1.5).unwrap(),
        },
        10_000,
    );
    assert!(matches!(&events[..], [Event::RateChanged { .. }]));
    assert_eq!(fast.playback.position_at(Millis(10_000)), 110.0);
    assert_eq!(fast.playback.position_at(Millis(12_000)), 113.0);
    // A viewer may not change the rate, nor anyone during grace.
    let slow = Command::SetRate {
        actor: BOB,
        rate: Rate::new(0.5).unwrap(),
    };
    assert_eq!(err(&fast, slow, 12_000), Rejection::NotHost);
    let away = ok(&fast, Command::HostDisconnected, 12_000).0;
    let slow = Command::SetRate {
        actor: OWNER,
        rate: Rate::new(0.5).unwrap(),
    };
    assert_eq!(err(&away, slow, 12_001), Rejection::HostAway);
}

#[test]
fn a_host_change_during_grace_to_someone_away_restarts_the_grace_paused() {
    let room = set_role(&party(), OWNER, ANA, AssignedRole::CoHost, 100);
    let playing = ok(&room, play(OWNER, 0.0), 1_000).0;
    let away = ok(&playing, Command::HostDisconnected, 5_000).0;
    assert_eq!(
        away.status,
        RoomStatus::Grace {
            deadline: Millis(65_000),
            was_playing: true
        }
    );
    // ANA claims over HTTP without a live socket: she is host, and away.
    let claim = Command::ChangeHost {
        actor: ANA,
        target: ANA,
        target_connected: false,
    };
    let (claimed, events) = ok(&away, claim, 30_000);
    match &events[..] {
        [Event::HostChanged(change), Event::GraceStarted { deadline, playback }] => {
            assert_eq!(change.host, ANA);
            assert_eq!(*deadline, Millis(90_000), "a fresh deadline");
            assert_eq!(playback.version, away.playback.version + 1);
        }
        other => panic!("{other:?}"),
    }
    // Nothing to resume when she arrives: the room stays paused until she plays.
    assert_eq!(
        claimed.status,
        RoomStatus::Grace {
            deadline: Millis(90_000),
            was_playing: false
        }
    );
    let (back, _) = ok(&claimed, Command::HostConnected, 40_000);
    assert_eq!(back.status, RoomStatus::Open);
    assert!(!back.playback.is_playing);
}

#[test]
fn if_version_guards_other_commands_before_anything_else() {
    let room = party();
    let hello = watchparty_domain::ChatText::parse("hi").unwrap().unwrap();
    let chat = Command::PostChat {
        actor: BOB,
        text: hello,
    };
    assert_eq!(
        err(&room, chat.clone().if_version(Some(3)), 10),
        Rejection::StaleVersion { current: 0 }
    );
    assert!(room
        .apply(chat.clone().if_version(Some(0)), Millis(10), grace())
        .is_ok());
    // Nested guards must all hold.
    let nested = chat.if_version(Some(0)).if_version(Some(1));
    assert_eq!(
        err(&room, nested, 10),
        Rejection::StaleVersion { current: 0 }
    );
}

/// §9: the server holds playback for a group wait and resumes it; both are
/// playback changes of their own, one version each, never during grace.
#[test]
fn a_wait_holds_and_resumes_playback_one_version_each() {
    let room = party();
    let (playing, _) = ok(&room, play(OWNER, 5.0), 1_000);
    let at = |s: f64| Position::new(s).unwrap();

    // Held where the command asked to be, paused, one version further.
    let (held, events) = ok(&playing, Command::HoldForWait { position: at(5.0) }, 1_000);
    assert!(!held.playback.is_playing);
    assert_eq!(held.playback.position, at(5.0));
    assert_eq!(held.playback.version, playing.playback.version + 1);
    assert!(matches!(
        events[..],
        [Event::PlaybackChanged {
            action: PlaybackAction::Pause(_),
            ..
        }]
    ));
    // Even paused where it rests: every client must hear that the room holds.
    let (again, _) = ok(&held, Command::HoldForWait { position: at(5.0) }, 1_200);
    assert_eq!(again.playback.version, held.playback.version + 1);

    // Resumed from the held position, starting a moment ahead.
    let resume = Command::ResumeAfterWait {
        position: at(5.0),
        start: Millis(3_300),
    };
    let (resumed, events) = ok(&held, resume.clone(), 3_000);
    assert!(resumed.playback.is_playing);
    assert_eq!(resumed.playback.updated_at, Millis(3_300));
    assert_eq!(resumed.playback.version, held.playback.version + 1);
    assert_eq!(
        resumed.playback.position_at(Millis(3_100)),
        5.0,
        "nobody moves before the start"
    );
    assert!((resumed.playback.position_at(Millis(4_300)) - 6.0).abs() < 1e-9);
    assert!(matches!(
        events[..],
        [Event::PlaybackChanged {
            action: PlaybackAction::Play(_),
            ..
        }]
    ));

    // The host gone during the wait: grace freezes, and the return plays.
    let (away, _) = ok(&held, Command::HostDisconnectedDuringWait, 4_000);
    assert!(matches!(
        away.status,
        RoomStatus::Grace {
            was_playing: true,
            ..
        }
    ));
    assert_eq!(err(&away, resume, 4_100), Rejection::HostAway);
    assert_eq!(
        err(&away, Command::HoldForWait { position: at(1.0) }, 4_100),
        Rejection::HostAway
    );
    let (back, _) = ok(&away, Command::HostConnected, 5_000);
    assert!(back.playback.is_playing, "the room was about to play");
    // Without a wait, a paused room stays paused across a grace.
    let (away, _) = ok(&held, Command::HostDisconnected, 4_000);
    let (back, _) = ok(&away, Command::HostConnected, 5_000);
    assert!(!back.playback.is_playing);
}
