-- C2C messages. A chat is the pair of identifiers (user_a < user_b) inside a tenant; every
-- message in it gets the next value of chats.last_seq, so clients can resume without gaps.

create table chats (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    user_a text not null,
    user_b text not null,
    last_seq integer not null default 0,
    created_at integer not null,
    updated_at integer not null
);
create unique index chats_pair on chats (tenant_id, user_a, user_b);

-- msg_time is Unix seconds as the protocol uses it; created_at is the store time in ms.
-- flag_bits 8 = recalled. body is the MsgBody JSON as sent; text is its searchable text.
create table messages (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    chat_id integer not null references chats(id) on delete cascade,
    seq integer not null,
    from_account text not null,
    to_account text not null,
    msg_seq integer not null,
    msg_random integer not null,
    msg_time integer not null,
    msg_key text not null,
    content_crc integer not null,
    body text not null,
    cloud_custom_data text not null default '',
    text text not null default '',
    flag_bits integer not null default 0,
    created_at integer not null
);
create unique index messages_chat_seq on messages (chat_id, seq);
create index messages_chat_time on messages (chat_id, msg_time, msg_seq, seq);
create index messages_chat_key on messages (chat_id, msg_key);
create index messages_dedup on messages (tenant_id, from_account, msg_random);
