//! The room state machine against a reference model, step by step, with the
//! host's comings and goings landing on, just before and just after the grace
//! deadline. Every command is preceded by the settling the service does when
//! it loads a room, and a sweeper may settle at any time. Checked after every
//! step: the room's status is the model's, it is never closed while its host
//! is connected, it closes at most once, and playback is frozen in grace.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use watchparty_domain::{
    ChatText, CloseReason, Command, Event, HostGrace, Millis, PlaybackAction, Position, Room,
    RoomCode, RoomId, RoomName, RoomSettings, RoomStatus, UserId,
};

const HOST: UserId = UserId(1);
const VIEWER: UserId = UserId(2);
const GRACE_SECS: u64 = 30;
const GRACE_MS: i64 = GRACE_SECS as i64 * 1000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Closed,
    Deleted,
}

/// What should be true, computed without the domain's code.
#[derive(Debug, Clone)]
struct Model {
    now: i64,
    host_connected: bool,
    deadline: Option<i64>,
    ended: Option<End>,
}

#[derive(Debug, Clone)]
enum Step {
    Wait(i64),
    /// Time moves to the grace deadline plus this many ms (if in grace).
    NearDeadline(i64),
    HostConnects,
    HostLeaves,
    Sweep,
    HostPlays(f64),
    ViewerSeeks(f64),
    Chat,
    HostDeletes,
    ViewerDeletes,
}

impl Model {
    fn settle(&mut self) {
        if let (Some(deadline), None) = (self.deadline, self.ended) {
            if self.now >= deadline {
                self.ended = Some(End::Closed);
                self.deadline = None;
            }
        }
    }
}

struct RoomMachine;

impl ReferenceStateMachine for RoomMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now: 0,
            host_connected: true,
            deadline: None,
            ended: None,
        })
        .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            3 => (0i64..GRACE_MS / 2).prop_map(Step::Wait),
            3 => (-3i64..=3).prop_map(Step::NearDeadline),
            3 => Just(Step::HostConnects),
            3 => Just(Step::HostLeaves),
            2 => Just(Step::Sweep),
            2 => (0.0f64..5000.0).prop_map(Step::HostPlays),
            1 => (0.0f64..5000.0).prop_map(Step::ViewerSeeks),
            1 => Just(Step::Chat),
            1 => Just(Step::HostDeletes),
            1 => Just(Step::ViewerDeletes),
        ]
        .boxed()
    }

    fn preconditions(model: &Model, step: &Step) -> bool {
        // Only a connected host can lose its last socket.
        !matches!(step, Step::HostLeaves) || model.host_connected
    }

    fn apply(mut model: Model, step: &Step) -> Model {
        match step {
            Step::Wait(ms) => model.now += ms,
            Step::NearDeadline(offset) => {
                if let Some(deadline) = model.deadline {
                    model.now = model.now.max(deadline + offset);
                }
            }
            _ => {}
        }
        model.settle();
        match step {
            Step::HostConnects if model.ended.is_none() => {
                model.host_connected = true;
                model.deadline = None;
            }
            Step::HostLeaves if model.ended.is_none() => {
                model.host_connected = false;
                model.deadline = Some(model.now + GRACE_MS);
            }
            Step::HostDeletes if model.ended != Some(End::Deleted) => {
                model.ended = Some(End::Deleted);
                model.deadline = None;
                model.host_connected = false;
            }
            _ => {}
        }
        model
    }
}

/// The domain's room, driven the way the service drives it.
struct Driven {
    room: Room,
    now: Millis,
    closings: u32,
}

impl Driven {
    fn absorb(&mut self, events: &[Event]) {
        for event in events {
            if matches!(
                event,
                Event::Closed {
                    reason: CloseReason::HostTimeout
                }
            ) {
                self.closings += 1;
            }
        }
    }

    /// What the service does on every load: close an overdue grace, once.
    fn settle(&mut self) {
        if let Some(outcome) = self.room.expire_if_due(self.now) {
            self.absorb(&outcome.events);
            self.room = outcome.room;
        }
    }

    fn run(&mut self, command: Command) {
        self.settle();
        if let Ok(outcome) = self
            .room
            .apply(command, self.now, HostGrace::from_secs(GRACE_SECS))
        {
            self.absorb(&outcome.events);
            self.room = outcome.room;
        }
    }
}

fn position(seconds: f64) -> Position {
    Position::new(seconds).unwrap()
}

impl StateMachineTest for RoomMachine {
    type SystemUnderTest = Driven;
    type Reference = RoomMachine;

    fn init_test(_: &Model) -> Driven {
        let settings = RoomSettings {
            name: RoomName::parse("room").unwrap(),
            is_private: false,
            is_chat_enabled: true,
            media_url: None,
            ..RoomSettings::named(RoomName::parse("room").unwrap())
        };
        let room = Room::new(
            RoomId(1),
            RoomCode::from_entropy([7; 10]),
            HOST,
            settings,
            Millis(0),
        );
        Driven {
            room,
            now: Millis(0),
            closings: 0,
        }
    }

    fn apply(mut sut: Driven, model: &Model, step: Step) -> Driven {
        // The model has already taken the step: its clock is the new now.
        sut.now = Millis(model.now);
        match step {
            Step::Wait(_) | Step::NearDeadline(_) | Step::Sweep => sut.settle(),
            Step::HostConnects => sut.run(Command::HostConnected),
            Step::HostLeaves => sut.run(Command::HostDisconnected),
            Step::HostPlays(s) => sut.run(Command::Playback {
                actor: HOST,
                action: PlaybackAction::Play(position(s)),
            }),
            Step::ViewerSeeks(s) => sut.run(Command::Playback {
                actor: VIEWER,
                action: PlaybackAction::Seek(position(s)),
            }),
            Step::Chat => sut.run(Command::PostChat {
                actor: VIEWER,
                text: hello(),
            }),
            Step::HostDeletes => sut.run(Command::Delete { actor: HOST }),
            Step::ViewerDeletes => sut.run(Command::Delete { actor: VIEWER }),
        }
        sut
    }

    fn check_invariants(sut: &Driven, model: &Model) {
        let expected = match (model.ended, model.deadline) {
            (Some(End::Deleted), _) => "deleted",
            (Some(End::Closed), _) => "closed",
            (None, Some(_)) => "grace",
            (None, None) => "open",
        };
        let actual = match sut.room.status {
            RoomStatus::Open => "open",
            RoomStatus::Grace { deadline, .. } => {
                assert_eq!(Some(deadline.0), model.deadline, "grace deadline");
                assert!(!sut.room.playback.is_playing, "playback frozen in grace");
                "grace"
            }
            RoomStatus::Closed => "closed",
            RoomStatus::Deleted => "deleted",
        };
        assert_eq!(actual, expected, "at {} ms: {model:?}", model.now);
        if model.host_connected {
            assert!(
                sut.room.status != RoomStatus::Closed,
                "closed with its host connected"
            );
        }
        assert!(sut.closings <= 1, "closed {} times", sut.closings);
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: 10_000,
        failure_persistence: None,
        .. Config::default()
    })]

    #[test]
    fn the_room_follows_the_model_through_hosts_racing_the_deadline(
        sequential 1..50 => RoomMachine
    );
}

fn hello() -> ChatText {
    match ChatText::parse("hello") {
        Ok(Some(text)) => text,
        _ => unreachable!("\"hello\" is a chat message"),
    }
}
