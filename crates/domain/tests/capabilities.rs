//! The contract's capability table (§7), row by row, against the pure
//! function that derives capabilities from a role, the room's settings and
//! a mute.
#![allow(clippy::unwrap_used)]

use watchparty_domain::{capabilities, Capability, Control, Role, RoomName, RoomSettings};

/// What the viewer column of a row says.
#[derive(Debug, Clone, Copy)]
enum ViewerCell {
    /// ✓
    Yes,
    /// empty
    No,
    /// "only when the room's `control` is `everyone`"
    WhenControlIsEveryone,
    /// "only when `viewers_can_queue` is true (default)"
    WhenViewersCanQueue,
}

/// Contract §7, "Capabilities": capability, host, co_host, viewer. `chat`
/// holds "unless muted" in every column.
const TABLE: [(Capability, &str, bool, bool, ViewerCell); 7] = [
    (
        Capability::ControlPlayback,
        "control_playback",
        true,
        true,
        ViewerCell::WhenControlIsEveryone,
    ),
    (Capability::Chat, "chat", true, true, ViewerCell::Yes),
    (
        Capability::AddToQueue,
        "add_to_queue",
        true,
        true,
        ViewerCell::WhenViewersCanQueue,
    ),
    (
        Capability::ManageQueue,
        "manage_queue",
        true,
        true,
        ViewerCell::No,
    ),
    (Capability::Moderate, "moderate", true, true, ViewerCell::No),
    (
        Capability::EditRoom,
        "edit_room",
        true,
        true,
        ViewerCell::No,
    ),
    (
        Capability::ManageRoles,
        "manage_roles",
        true,
        false,
        ViewerCell::No,
    ),
];

fn settings(control: Control, viewers_can_queue: bool) -> RoomSettings {
    RoomSettings {
        control,
        viewers_can_queue,
        ..RoomSettings::named(RoomName::parse("room").unwrap())
    }
}

#[test]
fn every_row_of_the_table_for_every_setting_and_mute() {
    for control in [Control::Host, Control::Everyone] {
        for viewers_can_queue in [true, false] {
            let settings = settings(control, viewers_can_queue);
            for muted in [false, true] {
                for role in [Role::Host, Role::CoHost, Role::Viewer] {
                    let held = capabilities(role, &settings, muted);
                    for (capability, name, host, co_host, viewer) in TABLE {
                        let mut expected = match role {
                            Role::Host => host,
                            Role::CoHost => co_host,
                            Role::Viewer => match viewer {
                                ViewerCell::Yes => true,
                                ViewerCell::No => false,
                                ViewerCell::WhenControlIsEveryone => control == Control::Everyone,
                                ViewerCell::WhenViewersCanQueue => viewers_can_queue,
                            },
                        };
                        if capability == Capability::Chat && muted {
                            expected = false;
                        }
                        assert_eq!(
                            held.contains(capability),
                            expected,
                            "{name} for {role:?}, control {control:?}, viewers_can_queue {viewers_can_queue}, muted {muted}"
                        );
                        assert_eq!(capability.as_str(), name);
                    }
                }
            }
        }
    }
}

#[test]
fn the_table_has_the_contracts_rows_in_order() {
    let rows: Vec<&str> = TABLE.iter().map(|row| row.1).collect();
    let all: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(rows, all);
}

#[test]
fn defaults_leave_sections_4_and_5_as_they_were() {
    // With no co-hosts and `control: host`, only the host controls playback.
    let defaults = RoomSettings::named(RoomName::parse("room").unwrap());
    assert_eq!(defaults.control, Control::Host);
    assert!(defaults.viewers_can_queue);
    let host = capabilities(Role::Host, &defaults, false);
    let viewer = capabilities(Role::Viewer, &defaults, false);
    assert!(host.contains(Capability::ControlPlayback));
    assert!(!viewer.contains(Capability::ControlPlayback));
    assert_eq!(viewer.names(), vec!["chat", "add_to_queue"]);
    assert_eq!(
        host.names(),
        vec![
            "control_playback",
            "chat",
            "add_to_queue",
            "manage_queue",
            "moderate",
            "edit_room",
            "manage_roles"
        ]
    );
}
