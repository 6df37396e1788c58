//! Random sequences of joins, role and host changes, moderation, playback,
//! rate changes, comings and goings and the passing of time, driven the way
//! the service drives a room: every step is preceded by settling (an overdue
//! grace closes or promotes, given who is connected; timed mutes and bans
//! lapse). After every step the invariants of contract §7, §8 and §11 hold.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use std::collections::BTreeSet;
use watchparty_domain::{
    AssignedRole, BanDuration, Command, Control, Event, HostGrace, Millis, OnHostTimeout, Outcome,
    PeopleNeeded, PlaybackAction, Position, Rate, Rejection, RejoinAfter, Role, Room, RoomCode,
    RoomId, RoomName, RoomSettings, RoomStatus, SettingsChange, UserId,
};

const OWNER: UserId = UserId(1);
const USERS: i64 = 6;
const GRACE_SECS: u64 = 20;

#[derive(Debug, Clone)]
enum Step {
    Wait(i64),
    Connect(UserId),
    Disconnect(UserId),
    Join(UserId),
    SetRole(UserId, UserId, bool),
    ChangeHost(UserId, UserId),
    Kick(UserId, UserId, i64),
    Ban(UserId, UserId, Option<i64>),
    Unban(UserId, UserId),
    Mute(UserId, UserId, Option<i64>),
    Unmute(UserId, UserId),
    Play(UserId, f64, Option<u64>),
    Seek(UserId, f64, Option<u64>),
    Pause(UserId, f64),
    Rate(UserId, f64, Option<u64>),
    Settings(UserId, Option<Control>, Option<OnHostTimeout>, bool),
}

fn user() -> impl Strategy<Value = UserId> {
    (1..=USERS).prop_map(UserId)
}

fn version() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(0u64..12)
}

fn step() -> impl Strategy<Value = Step> {
    let control = prop::option::of(prop_oneof![Just(Control::Host), Just(Control::Everyone)]);
    let timeout = prop::option::of(prop_oneof![
        Just(OnHostTimeout::Close),
        Just(OnHostTimeout::Promote)
    ]);
    prop_oneof![
        4 => (0i64..12_000).prop_map(Step::Wait),
        4 => user().prop_map(Step::Connect),
        4 => user().prop_map(Step::Disconnect),
        3 => user().prop_map(Step::Join),
        3 => (user(), user(), any::<bool>()).prop_map(|(a, t, c)| Step::SetRole(a, t, c)),
        3 => (user(), user()).prop_map(|(a, t)| Step::ChangeHost(a, t)),
        2 => (user(), user(), 0i64..40).prop_map(|(a, t, s)| Step::Kick(a, t, s)),
        2 => (user(), user(), prop::option::of(1i64..40)).prop_map(|(a, t, d)| Step::Ban(a, t, d)),
        1 => (user(), user()).prop_map(|(a, t)| Step::Unban(a, t)),
        2 => (user(), user(), prop::option::of(1i64..40)).prop_map(|(a, t, d)| Step::Mute(a, t, d)),
        1 => (user(), user()).prop_map(|(a, t)| Step::Unmute(a, t)),
        3 => (user(), 0.0f64..500.0, version()).prop_map(|(a, s, v)| Step::Play(a, s, v)),
        2 => (user(), 0.0f64..500.0, version()).prop_map(|(a, s, v)| Step::Seek(a, s, v)),
        2 => (user(), 0.0f64..500.0).prop_map(|(a, s)| Step::Pause(a, s)),
        2 => (user(), 0.25f64..=4.0, version()).prop_map(|(a, r, v)| Step::Rate(a, r, v)),
        1 => (user(), control, timeout, any::<bool>()).prop_map(|(a, c, o, m)| Step::Settings(a, c, o, m)),
    ]
}

/// The room as the service loads it for a command: only the participants
/// and bans of the people the command needs.
fn restricted(room: &Room, needed: &PeopleNeeded) -> Room {
    match needed {
        PeopleNeeded::All => room.clone(),
        PeopleNeeded::Only(users) => Room {
            participants: room
                .participants
                .iter()
                .filter(|(u, _)| users.contains(u))
                .map(|(u, p)| (*u, p.clone()))
                .collect(),
            bans: room
                .bans
                .iter()
                .filter(|(u, _)| users.contains(u))
                .map(|(u, b)| (*u, b.clone()))
                .collect(),
            ..room.clone()
        },
    }
}

fn new_room() -> Room {
    Room::new(
        RoomId(1),
        RoomCode::from_entropy([3; 10]),
        OWNER,
        RoomSettings::named(RoomName::parse("room").unwrap()),
        Millis(0),
    )
}

fn position(s: f64) -> Position {
    Position::new(s).unwrap()
}

/// Events that announce playback: each carries the next version.
fn playback_of(event: &Event) -> Option<u64> {
    match event {
        Event::PlaybackChanged { playback, .. }
        | Event::RateChanged { playback }
        | Event::GraceStarted { playback, .. }
        | Event::HostReturned { playback }
        | Event::GraceEnded { playback } => Some(playback.version),
        Event::SettingsChanged {
            playback_reset: true,
            ..
        } => None,
        _ => None,
    }
}

fn resets_playback(event: &Event) -> bool {
    matches!(
        event,
        Event::SettingsChanged {
            playback_reset: true,
            ..
        }
    )
}

struct Driver {
    room: Room,
    now: Millis,
    connected: BTreeSet<UserId>,
}

impl Driver {
    fn grace() -> HostGrace {
        HostGrace::from_secs(GRACE_SECS)
    }

    fn connected(&self) -> Vec<UserId> {
        self.connected.iter().copied().collect()
    }

    /// Takes an outcome, checking what every accepted change must keep.
    fn absorb(&mut self, outcome: Outcome) -> Result<(), TestCaseError> {
        let before = &self.room;
        let after = &outcome.room;
        // The version grows with every playback announcement, by one each,
        // and never otherwise.
        let mut expected = before.playback.version;
        for event in &outcome.events {
            if let Some(version) = playback_of(event) {
                expected += 1;
                prop_assert_eq!(version, expected, "{:?}", event);
            } else if resets_playback(event) {
                expected += 1;
            }
        }
        prop_assert_eq!(after.playback.version, expected, "{:?}", outcome.events);
        let moved = before.playback.is_playing != after.playback.is_playing
            || before.playback.rate != after.playback.rate
            || (before.playback.position_at(self.now) - after.playback.position_at(self.now)).abs()
                > 1e-9;
        if moved {
            prop_assert!(
                expected > before.playback.version,
                "playback changed silently"
            );
        }
        // host_epoch grows by one with each HOST_CHANGED and never otherwise.
        let changes: Vec<_> = outcome
            .events
            .iter()
            .filter_map(|e| match e {
                Event::HostChanged(change) => Some(*change),
                _ => None,
            })
            .collect();
        prop_assert_eq!(after.host_epoch, before.host_epoch + changes.len() as u64);
        prop_assert_eq!(changes.is_empty(), after.host == before.host);
        for change in &changes {
            prop_assert_eq!(change.previous, before.host);
            prop_assert_eq!(change.host, after.host);
            prop_assert_eq!(change.host_epoch, after.host_epoch);
            if change.previous != change.host {
                prop_assert_eq!(after.role_of(change.previous), Some(Role::CoHost));
            }
        }
        self.room = outcome.room;
        Ok(())
    }

    /// What the service does whenever it touches a room.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        let connected = self.connected();
        if let Some(outcome) = self.room.expire_or_promote(self.now, &connected) {
            if let Some(Event::HostChanged(change)) = outcome.events.first() {
                prop_assert!(
                    self.connected.contains(&change.host),
                    "promoted someone away"
                );
                prop_assert!(
                    !self.room.participants[&change.host].is_muted_at(self.now),
                    "promoted a muted participant"
                );
                prop_assert_eq!(self.room.settings.on_host_timeout, OnHostTimeout::Promote);
            }
            self.absorb(outcome)?;
        }
        if let Some(outcome) = self.room.lapse_due(self.now) {
            self.absorb(outcome)?;
        }
        Ok(())
    }

    fn run(&mut self, command: Command) -> Result<Option<Rejection>, TestCaseError> {
        self.settle()?;
        // The service loads only the people a command needs: that room must
        // decide exactly as the whole one, and change those people alike.
        let needed = command.people_needed();
        let partial = restricted(&self.room, &needed)
            .apply(command.clone(), self.now, Self::grace())
            .map(|o| (restricted(&o.room, &needed), o.events));
        let whole = self
            .room
            .apply(command.clone(), self.now, Self::grace())
            .map(|o| (restricted(&o.room, &needed), o.events));
        prop_assert_eq!(
            partial,
            whole,
            "{:?} decided differently on {:?}",
            command,
            needed
        );
        match self.room.apply(command, self.now, Self::grace()) {
            Ok(outcome) => {
                self.absorb(outcome)?;
                Ok(None)
            }
            Err(rejection) => Ok(Some(rejection)),
        }
    }

    fn step(&mut self, step: Step) -> Result<(), TestCaseError> {
        match step {
            Step::Wait(ms) => {
                self.now = self.now.plus_millis(ms);
                self.settle()?;
            }
            Step::Connect(user) => {
                // Only participants have sockets in the room.
                let fresh =
                    self.room.participants.contains_key(&user) && self.connected.insert(user);
                if fresh && user == self.room.host {
                    self.run(Command::HostConnected)?;
                }
            }
            Step::Disconnect(user) => {
                if self.connected.remove(&user) && user == self.room.host {
                    self.run(Command::HostDisconnected)?;
                }
            }
            Step::Join(user) => {
                let rejection = self.run(Command::Join { user })?;
                if let Some(Rejection::Banned { .. }) = rejection {
                    prop_assert!(self.room.ban_on(user, self.now).is_some());
                }
            }
            Step::SetRole(actor, target, co_host) => {
                let role = if co_host {
                    AssignedRole::CoHost
                } else {
                    AssignedRole::Viewer
                };
                self.run(Command::SetRole {
                    actor,
                    target,
                    role,
                })?;
            }
            Step::ChangeHost(actor, target) => {
                let target_connected = self.connected.contains(&target);
                self.run(Command::ChangeHost {
                    actor,
                    target,
                    target_connected,
                })?;
            }
            Step::Kick(actor, target, secs) => {
                self.run(Command::Kick {
                    actor,
                    target,
                    reason: None,
                    rejoin_after: RejoinAfter::from_secs(secs).unwrap(),
                })?;
                self.drop_removed();
            }
            Step::Ban(actor, target, secs) => {
                self.run(Command::Ban {
                    actor,
                    target,
                    reason: None,
                    duration: secs.map(|s| BanDuration::from_secs(s).unwrap()),
                })?;
                self.drop_removed();
            }
            Step::Unban(actor, target) => {
                self.run(Command::Unban { actor, target })?;
            }
            Step::Mute(actor, target, secs) => {
                self.run(Command::Mute {
                    actor,
                    target,
                    duration: secs.map(|s| BanDuration::from_secs(s).unwrap()),
                })?;
            }
            Step::Unmute(actor, target) => {
                self.run(Command::Unmute { actor, target })?;
            }
            Step::Play(actor, s, v) => self.control(
                actor,
                Command::Playback {
                    actor,
                    action: PlaybackAction::Play(position(s)),
                },
                v,
            )?,
            Step::Seek(actor, s, v) => self.control(
                actor,
                Command::Playback {
                    actor,
                    action: PlaybackAction::Seek(position(s)),
                },
                v,
            )?,
            Step::Pause(actor, s) => self.control(
                actor,
                Command::Playback {
                    actor,
                    action: PlaybackAction::Pause(position(s)),
                },
                None,
            )?,
            Step::Rate(actor, r, v) => self.control(
                actor,
                Command::SetRate {
                    actor,
                    rate: Rate::new(r).unwrap(),
                },
                v,
            )?,
            Step::Settings(actor, control, on_host_timeout, new_video) => {
                let media_url = new_video.then(|| {
                    let url = format!("https://x.io/{}.mp4", self.now.0);
                    Some(watchparty_domain::MediaUrl::parse(&url).unwrap())
                });
                let change = SettingsChange {
                    control,
                    on_host_timeout,
                    media_url,
                    new_item: Some(watchparty_domain::ItemId(self.now.0)),
                    ..SettingsChange::default()
                };
                self.run(Command::UpdateSettings { actor, change })?;
            }
        }
        Ok(())
    }

    /// A playback command, maybe guarded: checks the order of the refusals.
    fn control(
        &mut self,
        actor: UserId,
        command: Command,
        if_version: Option<u64>,
    ) -> Result<(), TestCaseError> {
        self.settle()?;
        let may = self.room.may(
            actor,
            watchparty_domain::Capability::ControlPlayback,
            self.now,
        );
        let in_grace = matches!(self.room.status, RoomStatus::Grace { .. });
        let current = self.room.playback.version;
        let live = !self.room.status_at(self.now).is_final();
        let rejection = self.run(command.if_version(if_version))?;
        if live {
            let expected = if !may {
                Some(Rejection::NotHost)
            } else if in_grace {
                Some(Rejection::HostAway)
            } else if if_version.is_some_and(|v| v != current) {
                Some(Rejection::StaleVersion { current })
            } else {
                None
            };
            prop_assert_eq!(rejection, expected);
        }
        Ok(())
    }

    /// The service closes a removed user's sockets.
    fn drop_removed(&mut self) {
        let room = &self.room;
        self.connected.retain(|u| room.participants.contains_key(u));
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let room = &self.room;
        // Exactly one host, and it is the room's host.
        let hosts: Vec<UserId> = room
            .participants
            .values()
            .filter(|p| p.role == Role::Host)
            .map(|p| p.user)
            .collect();
        prop_assert_eq!(hosts, vec![room.host]);
        // The owner is always a participant and never banned.
        prop_assert!(room.participants.contains_key(&room.owner));
        prop_assert!(room.ban_on(room.owner, self.now).is_none());
        // A banned user is never a participant.
        for user in room.participants.keys() {
            prop_assert!(
                room.ban_on(*user, self.now).is_none(),
                "{:?} banned yet in",
                user
            );
        }
        // The host is never muted; co-hosts carry when they became one.
        prop_assert!(!room.participants[&room.host].is_muted_at(self.now));
        for p in room.participants.values() {
            prop_assert_eq!(p.became_co_host_at.is_some(), p.role == Role::CoHost);
        }
        // Grace freezes playback.
        if matches!(room.status, RoomStatus::Grace { .. }) {
            prop_assert!(!room.playback.is_playing);
        }
        // The owner never loses the right to reclaim: connected or not,
        // taking the room back succeeds in any room that is still live.
        if !room.status_at(self.now).is_final() {
            for connected in [true, false] {
                let reclaim = Command::ChangeHost {
                    actor: room.owner,
                    target: room.owner,
                    target_connected: connected,
                };
                let outcome = room.apply(reclaim, self.now, Self::grace());
                prop_assert!(outcome.is_ok(), "{:?}", outcome);
                prop_assert_eq!(outcome.unwrap().room.host, room.owner);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Exactly one host at all times; the owner is never banned and can
    /// always reclaim; a banned user is never a participant; the version
    /// grows with every playback change and never otherwise; the refusals
    /// of playback commands come in the contract's order.
    #[test]
    fn roles_hosts_and_moderation_keep_their_invariants(steps in prop::collection::vec(step(), 1..80)) {
        let mut driver = Driver {
            room: new_room(),
            now: Millis(0),
            connected: BTreeSet::from([OWNER]),
        };
        driver.check()?;
        for step in steps {
            driver.step(step)?;
            driver.check()?;
        }
    }

    /// The position is continuous across RATE changes and matches a
    /// piecewise-linear reference computed here, between and at changes.
    #[test]
    fn position_is_continuous_across_rate_changes(
        start in 0.0f64..1000.0,
        changes in prop::collection::vec((0i64..20_000, 0.25f64..=4.0), 1..30),
    ) {
        let grace = HostGrace::from_secs(GRACE_SECS);
        let play = Command::Playback { actor: OWNER, action: PlaybackAction::Play(position(start)) };
        let mut room = new_room().apply(play, Millis(0), grace).unwrap().room;
        let (mut now, mut reference, mut rate) = (0i64, start, 1.0f64);
        for (delay, next) in changes {
            let halfway = now + delay / 2;
            now += delay;
            reference += rate * delay as f64 / 1000.0;
            let expected_halfway = reference - rate * (now - halfway) as f64 / 1000.0;
            prop_assert!((room.playback.position_at(Millis(halfway)) - expected_halfway).abs() < 1e-6);
            let before = room.playback.position_at(Millis(now));
            prop_assert!((before - reference).abs() < 1e-6, "{} vs {}", before, reference);
            let command = Command::SetRate { actor: OWNER, rate: Rate::new(next).unwrap() };
            let outcome = room.apply(command, Millis(now), grace).unwrap();
            let after = outcome.room.playback.position_at(Millis(now));
            prop_assert_eq!(before, after, "a jump at the rate change");
            prop_assert_eq!(outcome.room.playback.version, room.playback.version + 1);
            room = outcome.room;
            rate = next;
        }
    }
}
