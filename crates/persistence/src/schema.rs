// The tables, as both backends see them. Written by hand so that only types
// both SQLite and PostgreSQL share appear (BigInt, Text, Bool, Double).

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        created_at -> BigInt,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    rooms (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        host_id -> BigInt,
        is_private -> Bool,
        is_chat_enabled -> Bool,
        media_url -> Nullable<Text>,
        status -> Text,
        grace_deadline -> Nullable<BigInt>,
        was_playing -> Bool,
        is_playing -> Bool,
        position -> Double,
        position_at -> BigInt,
        created_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        owner_id -> BigInt,
        host_epoch -> BigInt,
        control -> Text,
        on_host_timeout -> Text,
        wait_policy -> Text,
        viewers_can_queue -> Bool,
        queue_mode -> Text,
        rate -> Double,
        playback_version -> BigInt,
        current_item_id -> Nullable<BigInt>,
        queue_version -> BigInt,
        advance_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    queue_items (id) {
        id -> BigInt,
        room_id -> BigInt,
        media_url -> Text,
        title -> Nullable<Text>,
        duration -> Nullable<Double>,
        added_by -> BigInt,
        added_at -> BigInt,
        sort_key -> BigInt,
        is_current -> Bool,
    }
}

diesel::table! {
    queue_votes (item_id, user_id) {
        item_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    participants (room_id, user_id) {
        room_id -> BigInt,
        user_id -> BigInt,
        role -> Text,
        joined_at -> BigInt,
        became_co_host_at -> Nullable<BigInt>,
        muted -> Bool,
        muted_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    room_bans (room_id, user_id) {
        room_id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        reason -> Nullable<Text>,
        by_id -> BigInt,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    room_audit (id) {
        id -> BigInt,
        room_id -> BigInt,
        action -> Text,
        actor_id -> Nullable<BigInt>,
        target_id -> Nullable<BigInt>,
        detail -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> BigInt,
        room_id -> BigInt,
        user_id -> BigInt,
        message -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(rooms -> users (host_id));
diesel::joinable!(participants -> users (user_id));
diesel::joinable!(participants -> rooms (room_id));
diesel::joinable!(chat_messages -> users (user_id));
diesel::joinable!(room_bans -> rooms (room_id));
diesel::joinable!(room_audit -> rooms (room_id));
diesel::joinable!(queue_items -> rooms (room_id));
diesel::joinable!(queue_votes -> queue_items (item_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    rooms,
    participants,
    chat_messages,
    room_bans,
    room_audit,
    queue_items,
    queue_votes,
    counters
);
