// Generated from crates/protocol/src/lib.rs and http.rs by ts-rs: do not
// edit by hand. Regenerate with
//   WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test typescript
// The WebSocket messages of docs/protocol.md, the JSON shapes they share
// with the HTTP bodies, and the HTTP request and answer bodies. Times are
// seconds (`time`) or ms since the Unix epoch (`server_time`); ids are
// JSON numbers.

/**
 * What a client may send over the room socket.
 */
export type ClientMessage = { "type": "PLAY",
/**
 * Seconds, from 0 to 1,000,000.
 */
time: number,
/**
 * Apply only if the playback version is still this.
 */
if_version?: number,
/**
 * When the person acted, by the server's clock as the client
 * estimates it (ms since the Unix epoch); used when it lies within
 * the last second.
 */
at?: number, } | { "type": "PAUSE",
/**
 * Seconds, from 0 to 1,000,000.
 */
time: number,
/**
 * Apply only if the playback version is still this.
 */
if_version?: number,
/**
 * When the person acted, by the server's clock as the client
 * estimates it (ms since the Unix epoch); used when it lies within
 * the last second.
 */
at?: number, } | { "type": "SEEK",
/**
 * Seconds, from 0 to 1,000,000.
 */
time: number,
/**
 * Apply only if the playback version is still this.
 */
if_version?: number,
/**
 * When the person acted, by the server's clock as the client
 * estimates it (ms since the Unix epoch); used when it lies within
 * the last second.
 */
at?: number, } | { "type": "RATE",
/**
 * From 0.25 to 4.
 */
rate: number,
/**
 * Apply only if the playback version is still this.
 */
if_version?: number,
/**
 * When the person acted, by the server's clock as the client
 * estimates it (ms since the Unix epoch); used when it lies within
 * the last second.
 */
at?: number, } | { "type": "CHAT_MESSAGE",
/**
 * Untrimmed text.
 */
message: string, } | { "type": "PING",
/**
 * Any JSON number, echoed as sent.
 */
client_time: number, } | { "type": "PLAYER_STATE",
/**
 * The player's readiness.
 */
state: PlayerStateName, } | { "type": "SET_WAIT",
/**
 * False: never wait for me.
 */
wait: boolean, } | { "type": "SYNC_REPORT",
/**
 * The player's position in seconds at `at`.
 */
time: number,
/**
 * When, by the server's clock as the client estimates it (ms since
 * the Unix epoch).
 */
at: number,
/**
 * The client's round trip to the server in ms.
 */
rtt_ms: number,
/**
 * The player's state.
 */
state: ReportedStateName, } | { "type": "ENDED",
/**
 * The item that ended.
 */
item_id: number, };

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
server_time: number,
/**
 * Seconds of video per second while playing.
 */
rate: number,
/**
 * The playback version.
 */
version: number,
/**
 * Who changed it; null when the server did (or on connecting).
 */
by: PublicUser | null,
/**
 * The group wait in progress, if any.
 */
waiting: Waiting | null,
/**
 * The current queue item; null when none.
 */
item_id: number | null,
/**
 * Present and true only when the server sends it because this
 * socket drifted too far (two sync reports beyond 1.5 s).
 */
resync?: boolean, } | { "type": "PRESENCE",
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
server_time: number,
/**
 * The playback version afterwards.
 */
version: number,
/**
 * Who did it; null when the server did.
 */
by: PublicUser | null, } | { "type": "PAUSE",
/**
 * Seconds.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number,
/**
 * The playback version afterwards.
 */
version: number,
/**
 * Who did it; null when the server did.
 */
by: PublicUser | null, } | { "type": "SEEK",
/**
 * Seconds.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number,
/**
 * The playback version afterwards.
 */
version: number,
/**
 * Who did it; null when the server did.
 */
by: PublicUser | null, } | { "type": "RATE",
/**
 * Seconds of video per second while playing.
 */
rate: number,
/**
 * Seconds, as of `server_time`.
 */
time: number,
/**
 * Ms since the Unix epoch.
 */
server_time: number,
/**
 * The playback version afterwards.
 */
version: number,
/**
 * Who did it.
 */
by: PublicUser | null, } | { "type": "CHAT_MESSAGE",
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
 * Stable, for programs: `chat_disabled`, `too_long`, `rate_limited`,
 * `muted`, `stale_version`, `unavailable`.
 */
code: string,
/**
 * Human text.
 */
message: string,
/**
 * With `stale_version`: the room's playback version now.
 */
version?: number,
/**
 * With `muted`: when the mute lapses (RFC 3339 UTC), null until lifted.
 */
until?: string | null, } | { "type": "HOST_DISCONNECTED",
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
reason: CloseReason, } | { "type": "HOST_CHANGED",
/**
 * The new host.
 */
host: PublicUser,
/**
 * The previous host.
 */
previous: PublicUser,
/**
 * `transferred`, `reclaimed`, `claimed` or `promoted`.
 */
reason: string,
/**
 * The room's `host_epoch` afterwards.
 */
host_epoch: number, } | { "type": "PARTICIPANT_UPDATED",
/**
 * The participant afterwards.
 */
participant: Participant,
/**
 * Who changed it; null when a mute lapsed.
 */
by: PublicUser | null, } | { "type": "CAPABILITIES",
/**
 * `host`, `co_host` or `viewer`.
 */
role: string,
/**
 * Capability names, in the protocol's order.
 */
capabilities: Array<string>, } | { "type": "REMOVED",
/**
 * `kicked` or `banned`.
 */
action: string,
/**
 * The moderator's reason, if any.
 */
reason: string | null,
/**
 * When they may come back (RFC 3339 UTC); null for a ban until lifted.
 */
until: string | null, } | { "type": "WAITING",
/**
 * The users still not ready.
 */
for: Array<PublicUser>,
/**
 * `play`, `seek`, `resume`, `advance` or `rebuffer`.
 */
reason: string,
/**
 * When the wait ends at the latest (ms since the Unix epoch).
 */
deadline: number, } | { "type": "WAIT_SKIPPED",
/**
 * Who was skipped.
 */
users: Array<PublicUser>, } | { "type": "YOUR_SYNC",
/**
 * Position minus the room's, in ms (positive: ahead); null when the
 * report did not count (the room paused or waiting, `at` out of
 * its window).
 */
drift_ms: number | null,
/**
 * The round trip the client reported.
 */
rtt_ms: number, } | { "type": "SYNC_STATS",
/**
 * One line per reporting user.
 */
users: Array<SyncLine>,
/**
 * The median absolute drift in ms.
 */
p50_abs_drift_ms: number,
/**
 * The 95th percentile of the absolute drifts in ms.
 */
p95_abs_drift_ms: number, } | { "type": "QUEUE_UPDATED",
/**
 * The queue's version afterwards.
 */
queue_version: number,
/**
 * `added`, `removed`, `moved`, `voted` or `advanced`.
 */
op: string,
/**
 * The item concerned (for `advanced`, the new current item); absent
 * when there is none.
 */
item?: QueueItem,
/**
 * Who; null for the server's own automatic advance.
 */
by: PublicUser | null, } | { "type": "PARTICIPANT_REMOVED",
/**
 * Who.
 */
user: PublicUser,
/**
 * `kicked` or `banned`.
 */
action: string,
/**
 * The moderator.
 */
by: PublicUser, };

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
 * The creator, for ever: deletes the room, takes it back at any time.
 */
owner: PublicUser,
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
created_at: string,
/**
 * Who controls playback besides the host and co-hosts: `host` (nobody
 * else) or `everyone`.
 */
control: string,
/**
 * When the host's grace runs out: `close` the room or `promote` a
 * connected participant.
 */
on_host_timeout: string,
/**
 * When the room waits for slow players: `off`, `start` or `always`.
 */
wait_policy: string,
/**
 * Whether viewers may add to the queue.
 */
viewers_can_queue: boolean,
/**
 * How the queue is ordered: `manual` or `vote`.
 */
queue_mode: string,
/**
 * Grows by one whenever the host changes.
 */
host_epoch: number,
/**
 * The item being watched (its URL is `media_url`), or null.
 */
current_item: QueueItem | null,
/**
 * Grows by one with every change of the queue or of the current item.
 */
queue_version: number, };

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
server_time: number,
/**
 * Seconds of video per second while playing (0.25 to 4; 1 by default).
 */
rate: number,
/**
 * Grows by one with every change of playback.
 */
version: number,
/**
 * The group wait in progress (playback is held meanwhile); null when
 * the room does not wait.
 */
waiting: Waiting | null,
/**
 * The current queue item this playback is of; null when none.
 */
item_id: number | null, };

/**
 * A group wait in progress: who the room waits for, why, and until when.
 */
export type Waiting = {
/**
 * The users still not ready.
 */
for: Array<PublicUser>,
/**
 * `play`, `seek`, `resume`, `advance` or `rebuffer`.
 */
reason: string,
/**
 * When the wait ends at the latest (ms since the Unix epoch).
 */
deadline: number, };

/**
 * One video of a room's queue: waiting, or the current item.
 */
export type QueueItem = {
/**
 * Unique across rooms.
 */
id: number,
/**
 * An `http://` or `https://` URL.
 */
media_url: string,
/**
 * A title, if the adder gave one.
 */
title: string | null,
/**
 * Its length in seconds, if known: the server advances by itself at its end.
 */
duration: number | null,
/**
 * Who added it.
 */
added_by: PublicUser,
/**
 * RFC 3339 UTC.
 */
added_at: string,
/**
 * How many users voted for it.
 */
votes: number,
/**
 * Whether the requester voted for it: in HTTP answers only (absent in
 * `QUEUE_UPDATED`, which every socket gets alike).
 */
voted_by_me?: boolean, };

/**
 * One viewer's line in `SYNC_STATS`.
 */
export type SyncLine = {
/**
 * Who.
 */
user: PublicUser,
/**
 * Their player's position minus the room's, in ms (positive: ahead).
 */
drift_ms: number,
/**
 * The round trip their client reported, in ms.
 */
rtt_ms: number,
/**
 * `playing`, `paused` or `buffering`.
 */
state: string,
/**
 * When the server received the report (ms since the Unix epoch).
 */
updated_at: number, };

/**
 * A player's readiness in `PLAYER_STATE`.
 */
export type PlayerStateName = "loading" | "ready" | "buffering" | "error";

/**
 * A player's state in `SYNC_REPORT`.
 */
export type ReportedStateName = "playing" | "paused" | "buffering";

/**
 * A user's membership of a room.
 */
export type Participant = {
/**
 * Who.
 */
user: PublicUser,
/**
 * `host`, `co_host` or `viewer`.
 */
role: string,
/**
 * Always true: joining by code is the invitation.
 */
is_approved: boolean,
/**
 * RFC 3339 UTC.
 */
joined_at: string,
/**
 * Whether their chat is refused.
 */
is_muted: boolean,
/**
 * When the mute lapses (RFC 3339 UTC); null while muted until lifted,
 * and when not muted.
 */
muted_until: string | null,
/**
 * Whether they have a live socket in the room now.
 */
is_connected: boolean, };

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
is_host: boolean,
/**
 * `host`, `co_host` or `viewer`.
 */
role: string, };

/**
 * Whether the room waits for its host.
 */
export type HostStatus = "online" | "grace" | "offline";

/**
 * Why a room closed.
 */
export type CloseReason = "deleted" | "host_timeout";

/**
 * `POST /api/auth/register/`.
 */
export type RegisterRequest = {
/**
 * `local@domain`, at most 254 characters; blanks around it and letter case are ignored.
 */
email: string,
/**
 * 8 to 1024 characters, taken exactly as typed.
 */
password: string,
/**
 * 1 to 50 characters; defaults to the part of the email before the `@`.
 */
display_name?: string, };

/**
 * `POST /api/auth/login/`.
 */
export type LoginRequest = {
/**
 * The account's email, matched like at registration.
 */
email: string,
/**
 * The password.
 */
password: string, };

/**
 * `POST /api/auth/register/`, `POST /api/auth/login/`, `GET /api/auth/me/`:
 * the logged-in user.
 */
export type UserResponse = {
/**
 * The user, email included.
 */
user: User, };

/**
 * `POST /api/auth/token/`: a token that opens one room socket.
 */
export type TokenResponse = {
/**
 * Opaque text for `/ws/rooms/{code}/?token=`.
 */
token: string,
/**
 * Seconds the token stays good for.
 */
expires_in: number, };

/**
 * `POST /api/rooms/`: absent fields take the defaults (public, chat on, no video).
 */
export type CreateRoomRequest = {
/**
 * 1 to 100 characters after trimming.
 */
name: string,
/**
 * Unlisted and for participants only; false by default.
 */
is_private?: boolean,
/**
 * Whether chat is on; true by default.
 */
is_chat_enabled?: boolean,
/**
 * An `http://` or `https://` URL of at most 2048 characters, or null for none.
 */
media_url?: string | null, };

/**
 * `PATCH /api/rooms/{code}/`: only the fields present change.
 */
export type UpdateRoomRequest = {
/**
 * 1 to 100 characters after trimming.
 */
name?: string,
/**
 * Unlisted and for participants only.
 */
is_private?: boolean,
/**
 * Whether chat is on.
 */
is_chat_enabled?: boolean,
/**
 * A new video URL, or null to remove the video; absent leaves it as it
 * is. (In Rust an explicit null is `Some(None)`, absence `None`.)
 */
media_url?: string | null,
/**
 * `host` (the host and co-hosts control playback) or `everyone`.
 */
control?: string,
/**
 * `close` or `promote`.
 */
on_host_timeout?: string,
/**
 * `off`, `start` or `always`.
 */
wait_policy?: string,
/**
 * Whether viewers may add to the queue.
 */
viewers_can_queue?: boolean,
/**
 * `manual` or `vote`.
 */
queue_mode?: string, };

/**
 * `POST /api/rooms/`, `PATCH /api/rooms/{code}/`: the room afterwards.
 */
export type RoomResponse = {
/**
 * The room.
 */
room: Room, };

/**
 * `GET /api/rooms/{code}/`: the room and where its playback is.
 */
export type RoomWithPlayback = {
/**
 * The room.
 */
room: Room,
/**
 * Playback as of now.
 */
playback: Playback, };

/**
 * `GET /api/rooms/public/`: open and grace rooms that are not private.
 */
export type RoomList = {
/**
 * Rooms with live viewers first (most viewers, then newest), then the others, newest first.
 */
rooms: Array<Room>, };

/**
 * `POST /api/rooms/{code}/join/`: the room and one's membership of it.
 */
export type JoinResponse = {
/**
 * The room.
 */
room: Room,
/**
 * The caller as a participant (the same one when joining again).
 */
participant: Participant, };

/**
 * `GET /api/rooms/{code}/messages/`: chat history, oldest first.
 */
export type MessageList = {
/**
 * Oldest first.
 */
messages: Array<ChatMessage>, };

/**
 * The query of `GET /api/rooms/public/`.
 */
export type PageQuery = {
/**
 * 1 to 100; 50 by default.
 */
limit?: number,
/**
 * At least 0; 0 by default.
 */
offset?: number, };

/**
 * The query of `GET /api/rooms/{code}/messages/`: at most one of `before`
 * and `after`; neither gives the newest messages.
 */
export type MessagesQuery = {
/**
 * 1 to 100; 50 by default.
 */
limit?: number,
/**
 * Only messages with a smaller id (the page before).
 */
before?: number,
/**
 * Only messages with a larger id (what one missed since that id).
 */
after?: number, };

/**
 * `GET /api/rooms/{code}/participants/`: the host, then co-hosts, then
 * viewers, each by `joined_at`.
 */
export type ParticipantList = {
/**
 * In that order.
 */
participants: Array<Participant>, };

/**
 * A participant after a change of role or mute.
 */
export type ParticipantResponse = {
/**
 * The participant afterwards.
 */
participant: Participant, };

/**
 * `PUT /api/rooms/{code}/participants/{user_id}/role/`.
 */
export type SetRoleRequest = {
/**
 * `co_host` or `viewer`.
 */
role: string, };

/**
 * `POST /api/rooms/{code}/host/`: hand over, take back, or claim.
 */
export type ChangeHostRequest = {
/**
 * The new host.
 */
user_id: number, };

/**
 * `POST /api/rooms/{code}/kicks/`.
 */
export type KickRequest = {
/**
 * Who is removed.
 */
user_id: number,
/**
 * Shown to them: one line, at most 200 characters.
 */
reason?: string | null,
/**
 * 0 to 86,400 seconds; 300 by default.
 */
rejoin_after_secs?: number, };

/**
 * `POST /api/rooms/{code}/bans/`.
 */
export type BanRequest = {
/**
 * Who is kept out (a participant or not).
 */
user_id: number,
/**
 * Shown to them: one line, at most 200 characters.
 */
reason?: string | null,
/**
 * 1 to 31,536,000 seconds; null or absent: until lifted.
 */
duration_secs?: number | null, };

/**
 * `POST /api/rooms/{code}/mutes/`.
 */
export type MuteRequest = {
/**
 * Who is muted.
 */
user_id: number,
/**
 * 1 to 31,536,000 seconds; null or absent: until lifted.
 */
duration_secs?: number | null, };

/**
 * A kick or a ban in force.
 */
export type Ban = {
/**
 * Who is kept out.
 */
user: PublicUser,
/**
 * `kick` or `ban`.
 */
kind: string,
/**
 * The moderator's reason, if any.
 */
reason: string | null,
/**
 * The moderator.
 */
by: PublicUser,
/**
 * RFC 3339 UTC.
 */
created_at: string,
/**
 * When it lapses (RFC 3339 UTC); null until lifted.
 */
expires_at: string | null, };

/**
 * `POST /api/rooms/{code}/bans/`: the ban placed.
 */
export type BanResponse = {
/**
 * The ban.
 */
ban: Ban, };

/**
 * `GET /api/rooms/{code}/bans/`: kicks and bans in force.
 */
export type BanList = {
/**
 * Oldest first.
 */
bans: Array<Ban>, };

/**
 * `GET /api/rooms/{code}/queue/`.
 */
export type QueueList = {
/**
 * The item being watched, or null.
 */
current: QueueItem | null,
/**
 * The waiting items in play order.
 */
items: Array<QueueItem>,
/**
 * The queue's version.
 */
queue_version: number, };

/**
 * `POST /api/rooms/{code}/queue/`.
 */
export type AddItemRequest = {
/**
 * An `http://` or `https://` URL of at most 2048 characters.
 */
media_url: string,
/**
 * At most 200 characters, no control characters.
 */
title?: string | null,
/**
 * Its length in seconds (positive), if known.
 */
duration?: number | null,
/**
 * `end` (the default) or `next`; ignored in `vote` mode.
 */
position?: string, };

/**
 * `POST /api/rooms/{code}/queue/`: the new item (current at once when
 * nothing was).
 */
export type AddedItem = {
/**
 * The item.
 */
item: QueueItem,
/**
 * The queue's version afterwards.
 */
queue_version: number, };

/**
 * `PUT` / `DELETE /api/rooms/{code}/queue/{item_id}/vote/`.
 */
export type ItemResponse = {
/**
 * The item afterwards.
 */
item: QueueItem, };

/**
 * `POST /api/rooms/{code}/queue/{item_id}/move/`.
 */
export type MoveItemRequest = {
/**
 * The waiting item it goes after; null: to the front. Required.
 */
after: number | null,
/**
 * Refused with `stale_version` unless the queue is still at this version.
 */
if_version?: number, };

/**
 * `POST /api/rooms/{code}/queue/{item_id}/move/`: the queue's version afterwards.
 */
export type QueueVersion = {
/**
 * The queue's version.
 */
queue_version: number, };

/**
 * `POST /api/rooms/{code}/queue/advance/`.
 */
export type AdvanceRequest = {
/**
 * Refused with `stale_version` unless this item is current (null:
 * unless none is); absent: no check.
 */
if_current?: number | null, };

/**
 * The query of `GET /api/rooms/{code}/audit/`.
 */
export type AuditQuery = {
/**
 * 1 to 100; 50 by default.
 */
limit?: number,
/**
 * Only entries with a smaller id (the page before).
 */
before?: number, };

/**
 * One thing done to a room by a person or by the server.
 */
export type AuditEntry = {
/**
 * Grows with every entry.
 */
id: number,
/**
 * `role_changed`, `host_changed`, `room_updated`, `kicked`, `banned`,
 * `unbanned`, `muted`, `unmuted`, `queue_item_removed`, `queue_moved`,
 * `queue_advanced`.
 */
action: string,
/**
 * Who did it; null when the server did.
 */
actor: PublicUser | null,
/**
 * To whom, if to someone.
 */
target: PublicUser | null,
/**
 * What changed, as an object.
 */
detail: Record<string, unknown>,
/**
 * RFC 3339 UTC.
 */
at: string, };

/**
 * `GET /api/rooms/{code}/audit/`: newest first.
 */
export type AuditList = {
/**
 * Newest first.
 */
entries: Array<AuditEntry>, };

/**
 * `GET /healthz` and `GET /readyz`.
 */
export type HealthStatus = {
/**
 * `ok` (healthz), `ready` or `unavailable` (readyz).
 */
status: string, };

/**
 * Every failure's body.
 */
export type ErrorBody = {
/**
 * What went wrong.
 */
error: ErrorDetail, };

/**
 * What went wrong: `code` is for programs, `message` for people.
 */
export type ErrorDetail = {
/**
 * Stable: one of the codes of docs/protocol.md's Errors table.
 */
code: string,
/**
 * For people; may change.
 */
message: string,
/**
 * Names this request in the server's log (also the `X-Request-Id`
 * header): every error answer of the server carries it. Optional in
 * Rust only because a body built outside a request has no id.
 */
request_id?: string,
/**
 * With `banned`: when the ban lapses (RFC 3339 UTC), null until lifted.
 */
until?: string | null, };
