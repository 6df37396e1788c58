// Generated from crates/protocol/src/lib.rs by ts-rs: do not edit by hand.
// Regenerate with
//   WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test typescript
// The WebSocket messages of docs/protocol.md and the JSON shapes the HTTP
// bodies share. Times are seconds (`time`) or ms since the Unix epoch
// (`server_time`); ids are JSON numbers.

/**
 * What a client may send over the room socket.
 */
export type ClientMessage = { "type": "PLAY",
/**
 * Seconds, from 0 to 1,000,000.
 */
time: number, } | { "type": "PAUSE",
/**
 * Seconds, from 0 to 1,000,000.
 */
time: number, } | { "type": "SEEK",
/**
 * Seconds, from 0 to 1,000,000.
 */
time: number, } | { "type": "CHAT_MESSAGE",
/**
 * Untrimmed text.
 */
message: string, } | { "type": "PING",
/**
 * Any JSON number, echoed as sent.
 */
client_time: number, };

/**
 * Everything the server sends over the room socket.
 */
export type ServerMessage = { "type": "PLAYBACK_STATE",
/**
 * Whether it plays.
 */
is_playing: boolean,
/**
 * Seconds as of `server_time`.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number, } | { "type": "PRESENCE",
/**
 * Distinct connected users.
 */
users: Array<PresentUser>,
/**
 * Whether the room waits for its host.
 */
host_status: HostStatus, } | { "type": "USER_JOINED",
/**
 * Who.
 */
user: PublicUser, } | { "type": "USER_LEFT",
/**
 * Who.
 */
user: PublicUser, } | { "type": "PLAY",
/**
 * Seconds.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number, } | { "type": "PAUSE",
/**
 * Seconds.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number, } | { "type": "SEEK",
/**
 * Seconds.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number, } | { "type": "CHAT_MESSAGE",
/**
 * Id, growing in delivery order.
 */
id: number,
/**
 * Author.
 */
user: PublicUser,
/**
 * Text.
 */
message: string,
/**
 * RFC 3339 UTC.
 */
created_at: string, } | { "type": "PONG",
/**
 * As the client sent it.
 */
client_time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number, } | { "type": "ERROR",
/**
 * Human text.
 */
message: string, } | { "type": "HOST_DISCONNECTED",
/**
 * RFC 3339 UTC.
 */
grace_expires_at: string,
/**
 * Length of the grace period.
 */
grace_seconds: number, } | { "type": "HOST_RECONNECTED" } | { "type": "ROOM_UPDATED",
/**
 * The room afterwards.
 */
room: Room, } | { "type": "ROOM_CLOSED",
/**
 * Why.
 */
reason: CloseReason, };

/**
 * A user as the user themself sees it.
 */
export type User = {
/**
 * Stable id.
 */
id: number,
/**
 * Login address, shown only to its owner.
 */
email: string,
/**
 * Name shown to others.
 */
display_name: string, };

/**
 * A user as everyone else sees it: never an email.
 */
export type PublicUser = {
/**
 * Stable id.
 */
id: number,
/**
 * Name shown to others.
 */
display_name: string, };

/**
 * A room as listed and fetched.
 */
export type Room = {
/**
 * Public code, upper case.
 */
code: string,
/**
 * Name.
 */
name: string,
/**
 * The host.
 */
host: PublicUser,
/**
 * Unlisted and visible to participants only.
 */
is_private: boolean,
/**
 * Whether chat is on.
 */
is_chat_enabled: boolean,
/**
 * The video, if any.
 */
media_url: string | null,
/**
 * `open`, `grace` or `closed`.
 */
status: string,
/**
 * Distinct users with a live socket in the room.
 */
viewer_count: number,
/**
 * RFC 3339 UTC.
 */
created_at: string, };

/**
 * Playback as of `server_time` (ms since the Unix epoch).
 */
export type Playback = {
/**
 * Whether it plays.
 */
is_playing: boolean,
/**
 * Seconds into the video as of `server_time`.
 */
time: number,
/**
 * Milliseconds since the Unix epoch.
 */
server_time: number, };

/**
 * A user's membership of a room.
 */
export type Participant = {
/**
 * Who.
 */
user: PublicUser,
/**
 * `host` or `viewer`.
 */
role: string,
/**
 * Always true: joining by code is the invitation.
 */
is_approved: boolean,
/**
 * RFC 3339 UTC.
 */
joined_at: string, };

/**
 * A stored chat message.
 */
export type ChatMessage = {
/**
 * Grows in delivery order within a room.
 */
id: number,
/**
 * Author.
 */
user: PublicUser,
/**
 * Text, trimmed.
 */
message: string,
/**
 * RFC 3339 UTC.
 */
created_at: string, };

/**
 * One entry of a `PRESENCE` list.
 */
export type PresentUser = {
/**
 * User id.
 */
id: number,
/**
 * Name shown to others.
 */
display_name: string,
/**
 * Whether this user hosts the room.
 */
is_host: boolean, };

/**
 * Whether the room waits for its host.
 */
export type HostStatus = "online" | "grace" | "offline";

/**
 * Why a room closed.
 */
export type CloseReason = "deleted" | "host_timeout";
