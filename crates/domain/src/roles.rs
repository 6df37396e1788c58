//! Roles and what they allow: a pure function of a participant's role, the
//! room's settings and whether they are muted (contract §7).

use crate::room::RoomSettings;

/// A participant's standing in a room. The room has exactly one [`Role::Host`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Drives the room; the only one who appoints co-hosts.
    Host,
    /// Helps the host: controls, moderates and edits the room.
    CoHost,
    /// Watches and chats.
    Viewer,
}

impl Role {
    /// The contract's name: `host`, `co_host` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Host => "host",
            Role::CoHost => "co_host",
            Role::Viewer => "viewer",
        }
    }
}

/// A role the host may give with `PUT …/participants/{id}/role/`. Hosting
/// is handed over with [`crate::Command::ChangeHost`], never assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignedRole {
    /// Make them a co-host.
    CoHost,
    /// Make them a viewer.
    Viewer,
}

impl AssignedRole {
    /// Reads the contract's `co_host` or `viewer`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "co_host" => Some(AssignedRole::CoHost),
            "viewer" => Some(AssignedRole::Viewer),
            _ => None,
        }
    }
}

impl From<AssignedRole> for Role {
    fn from(role: AssignedRole) -> Role {
        match role {
            AssignedRole::CoHost => Role::CoHost,
            AssignedRole::Viewer => Role::Viewer,
        }
    }
}

/// Who may control playback in a room (`control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Control {
    /// The host and co-hosts (the default, as in sections 4–5).
    #[default]
    Host,
    /// Every participant.
    Everyone,
}

impl Control {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Host => "host",
            Control::Everyone => "everyone",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "host" => Some(Control::Host),
            "everyone" => Some(Control::Everyone),
            _ => None,
        }
    }
}

/// What happens when the host's grace runs out (`on_host_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnHostTimeout {
    /// The room closes (the default, as in section 5).
    #[default]
    Close,
    /// The room is handed to a connected participant (see
    /// [`crate::Room::expire_or_promote`]); with nobody connected it closes.
    Promote,
}

impl OnHostTimeout {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OnHostTimeout::Close => "close",
            OnHostTimeout::Promote => "promote",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "close" => Some(OnHostTimeout::Close),
            "promote" => Some(OnHostTimeout::Promote),
            _ => None,
        }
    }
}

/// When the room waits for slow players (`wait_policy`, section 9); the
/// wait itself is [`crate::GroupWait`], live state beside the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WaitPolicy {
    /// Never wait.
    Off,
    /// Wait after a play, a seek while playing, a resume and an advance.
    #[default]
    Start,
    /// Also wait when someone rebuffers while playing.
    Always,
}

impl WaitPolicy {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitPolicy::Off => "off",
            WaitPolicy::Start => "start",
            WaitPolicy::Always => "always",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "off" => Some(WaitPolicy::Off),
            "start" => Some(WaitPolicy::Start),
            "always" => Some(WaitPolicy::Always),
            _ => None,
        }
    }
}

/// How the queue is ordered (`queue_mode`, section 12). Only the value lives
/// here so far: the queue itself is not in the rules yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QueueMode {
    /// As added and moved.
    #[default]
    Manual,
    /// Most votes first, then oldest.
    Vote,
}

impl QueueMode {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueMode::Manual => "manual",
            QueueMode::Vote => "vote",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "manual" => Some(QueueMode::Manual),
            "vote" => Some(QueueMode::Vote),
            _ => None,
        }
    }
}

/// One thing a participant may do (the rows of the contract's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// PLAY, PAUSE, SEEK, RATE, queue advance.
    ControlPlayback,
    /// Post chat messages.
    Chat,
    /// Add items to the queue.
    AddToQueue,
    /// Move any item, remove others' items.
    ManageQueue,
    /// Kick, ban, mute.
    Moderate,
    /// `PATCH` the room.
    EditRoom,
    /// Appoint and demote co-hosts.
    ManageRoles,
}

impl Capability {
    /// Every capability, in the contract's order (the order of `CAPABILITIES`).
    pub const ALL: [Capability; 7] = [
        Capability::ControlPlayback,
        Capability::Chat,
        Capability::AddToQueue,
        Capability::ManageQueue,
        Capability::Moderate,
        Capability::EditRoom,
        Capability::ManageRoles,
    ];

    /// The contract's name, as sent in `CAPABILITIES`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::ControlPlayback => "control_playback",
            Capability::Chat => "chat",
            Capability::AddToQueue => "add_to_queue",
            Capability::ManageQueue => "manage_queue",
            Capability::Moderate => "moderate",
            Capability::EditRoom => "edit_room",
            Capability::ManageRoles => "manage_roles",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of capabilities; iterates in the contract's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// No capability at all (someone who is not a participant).
    pub const NONE: Capabilities = Capabilities(0);

    /// Whether the set holds `capability`.
    pub fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// The capabilities held, in the contract's order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The contract's names, in order: the `capabilities` of `CAPABILITIES`.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Capability::as_str).collect()
    }

    fn with(self, capability: Capability, held: bool) -> Self {
        if held {
            Capabilities(self.0 | capability.bit())
        } else {
            self
        }
    }
}

/// What a participant of `role` may do in a room with `settings`, muted or
/// not: the contract's capability table, as a pure function. Muting takes
/// away `chat` and nothing else.
pub fn capabilities(role: Role, settings: &RoomSettings, muted: bool) -> Capabilities {
    let staff = matches!(role, Role::Host | Role::CoHost);
    Capabilities::NONE
        .with(
            Capability::ControlPlayback,
            staff || settings.control == Control::Everyone,
        )
        .with(Capability::Chat, !muted)
        .with(Capability::AddToQueue, staff || settings.viewers_can_queue)
        .with(Capability::ManageQueue, staff)
        .with(Capability::Moderate, staff)
        .with(Capability::EditRoom, staff)
        .with(Capability::ManageRoles, role == Role::Host)
}
