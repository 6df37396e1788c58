// HAND-WRITTEN, not generated: the HTTP request and answer bodies the web
// client uses (docs/protocol.md, "Accounts and tokens" and "Rooms"). The
// server builds these envelopes inline rather than from Rust types, so there
// is nothing to derive them from; the shapes inside them (User, Room, ...)
// come from the generated protocol.d.ts. Keep this file in step with
// docs/protocol.md by hand.

import type { ChatMessage, Participant, Playback, Room, User } from "./protocol";

/** Every failure's body: `code` is for programs, `message` for people. */
export type ErrorBody = { error: { code: string; message: string; request_id?: string } };

/** `POST /api/auth/register/`, `POST /api/auth/login/`, `GET /api/auth/me/`. */
export type UserBody = { user: User };

/** `POST /api/auth/token/`: a one-socket token, valid for `expires_in` seconds. */
export type TokenBody = { token: string; expires_in: number };

/** `POST /api/rooms/`, `PATCH /api/rooms/{code}/`. */
export type RoomBody = { room: Room };

/** `GET /api/rooms/{code}/`. */
export type RoomWithPlaybackBody = { room: Room; playback: Playback };

/** `POST /api/rooms/{code}/join/`. */
export type JoinBody = { room: Room; participant: Participant };

/** `GET /api/rooms/public/`. */
export type RoomsBody = { rooms: Room[] };

/** `GET /api/rooms/{code}/messages/`, oldest first. */
export type MessagesBody = { messages: ChatMessage[] };

/** `POST /api/rooms/`: absent fields take the defaults (public, chat on, no video). */
export type CreateRoomRequest = {
  name: string;
  is_private?: boolean;
  is_chat_enabled?: boolean;
  media_url?: string | null;
};

/** `PATCH /api/rooms/{code}/`: only the fields present change; `media_url: null` removes the video. */
export type UpdateRoomRequest = Partial<CreateRoomRequest>;

/** The query of `GET /api/rooms/{code}/messages/`. */
export type MessagesQuery = { limit?: number; before?: number; after?: number };
