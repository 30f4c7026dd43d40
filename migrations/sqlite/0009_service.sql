-- Conversation engine, part two: service settings, reception timeout, console grace and
-- recovery, ratings, transfer counts, consultation categories and message tags.

-- A tenant's service settings as one JSON document (absent: every default). New settings
-- need no migration; the API validates the document before it is written.
create table service_settings (
    tenant_id integer primary key references tenants(id) on delete cascade,
    settings text not null,
    updated_at integer not null
);

-- reply_deadline: when the buyer must have answered the agent, or the conversation ends as
-- timed out (null while the agent owes the reply). requeue_at: when a conversation whose
-- agent's console vanished goes back to the queue (null: it waits for its agent).
-- pending_choice: the skill groups offered to the buyer in a menu, as JSON.
alter table conversations add column reply_deadline integer;
alter table conversations add column requeue_at integer;
alter table conversations add column pending_choice text;
create index conversations_deadlines on conversations (state, reply_deadline);
create index conversations_requeue on conversations (recover, requeue_at);

-- console_seen_at: the last time any node saw a console socket of the agent (heartbeat).
-- console_lost_at: set when the grace period ran out, cleared when a console comes back.
alter table agent_states add column console_seen_at integer not null default 0;
alter table agent_states add column console_lost_at integer;
alter table agent_states add column transfers_within integer not null default 0;
alter table agent_states add column transfers_across integer not null default 0;

alter table conversation_sessions add column rating_expires_at integer;
alter table conversation_sessions add column rating_label text not null default '';

-- Consultation categories (咨询分类): a tree per tenant. A category assigned to skill groups
-- is offered only there; one assigned to none is offered everywhere.
create table categories (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    parent_id integer references categories(id) on delete restrict,
    name text not null,
    position integer not null default 0,
    created_at integer not null
);
create index categories_tenant on categories (tenant_id, parent_id, position);
create table category_groups (
    tenant_id integer not null references tenants(id) on delete cascade,
    category_id integer not null references categories(id) on delete cascade,
    skill_group_id integer not null references skill_groups(id) on delete cascade,
    primary key (category_id, skill_group_id)
);

-- Message tags (会话标签): a tree per tenant, and the tags agents put on messages.
create table tags (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    parent_id integer references tags(id) on delete restrict,
    name text not null,
    position integer not null default 0,
    created_at integer not null
);
create index tags_tenant on tags (tenant_id, parent_id, position);
create table message_tags (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    tag_id integer not null references tags(id) on delete restrict,
    conversation_id integer not null references conversations(id) on delete cascade,
    chat_id integer not null,
    seq integer not null,
    buyer text not null,
    agent_id integer references accounts(id) on delete set null,
    note text not null default '',
    created_at integer not null
);
create unique index message_tags_once on message_tags (tenant_id, chat_id, seq, tag_id);
create index message_tags_time on message_tags (tenant_id, created_at);
