-- The conversation engine. A conversation is one visit of a buyer to a customer-service
-- account: flow (bot) → queued (skill group) → assigned (agent) → ended. Each agent who serves
-- it gets a session (子会话). Every milestone is an event; reports are computed from events.

-- Routing settings. Writing a group's updated_at locks it while a buyer is assigned from its
-- queue, so one group's assignments happen one at a time on every node.
alter table skill_groups add column identifier text not null default '';
alter table skill_groups add column phone text not null default '';
alter table skill_groups add column client_name text not null default '';
alter table skill_groups add column visible_to_buyers boolean not null default true;
alter table skill_groups add column agent_cap integer not null default 3;
alter table skill_groups add column strategy text not null default 'least_busy';
alter table skill_groups add column rr_last_agent integer not null default 0;
alter table skill_groups add column updated_at integer not null default 0;
-- An agent's own cap in a group, over the group's agent_cap.
alter table skill_group_members add column cap integer;

-- Status of each agent who has ever logged in. active: conversations assigned now.
create table agent_states (
    tenant_id integer not null references tenants(id) on delete cascade,
    account_id integer not null references accounts(id) on delete cascade,
    status text not null,
    status_since integer not null,
    active integer not null default 0,
    last_assigned_at integer not null default 0,
    primary key (tenant_id, account_id)
);

-- Every status change, for the time online and suspended in reports.
create table agent_status_log (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    account_id integer not null references accounts(id) on delete cascade,
    status text not null,
    at integer not null
);
create index agent_status_log_agent on agent_status_log (tenant_id, account_id, at);

create table conversations (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    buyer text not null,
    service_account text not null,
    channel text not null default 'im',
    skill_group_id integer references skill_groups(id) on delete set null,
    state text not null,
    queued_at integer,
    agent_id integer references accounts(id) on delete set null,
    session_id integer,
    recover boolean not null default false,
    end_reason text,
    ended_by text,
    ended_at integer,
    created_at integer not null,
    updated_at integer not null
);
-- One open conversation per buyer and service account.
create unique index conversations_open on conversations (tenant_id, buyer, service_account) where state <> 'ended';
create index conversations_queue on conversations (tenant_id, skill_group_id, state, queued_at, id);
create index conversations_agent on conversations (tenant_id, agent_id, state);
create index conversations_recent on conversations (tenant_id, updated_at);

create table conversation_sessions (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    conversation_id integer not null references conversations(id) on delete cascade,
    agent_id integer references accounts(id) on delete set null,
    skill_group_id integer references skill_groups(id) on delete set null,
    started_at integer not null,
    first_reply_at integer,
    ended_at integer,
    end_reason text,
    categories text not null default '',
    note text not null default '',
    rating integer,
    rated_at integer
);
create index conversation_sessions_conversation on conversation_sessions (tenant_id, conversation_id);
create index conversation_sessions_agent on conversation_sessions (tenant_id, agent_id, started_at);

-- kind: created, queued, assigned, accepted, first_agent_reply, transferred, ended, rated,
-- categorized. actor: 'buyer:…', 'account:…', 'system'. detail: JSON.
create table conversation_events (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    conversation_id integer not null references conversations(id) on delete cascade,
    session_id integer,
    kind text not null,
    actor text not null,
    detail text not null default '{}',
    at integer not null
);
create index conversation_events_conversation on conversation_events (tenant_id, conversation_id, id);
create index conversation_events_time on conversation_events (tenant_id, at);
