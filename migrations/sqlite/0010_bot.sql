-- Conversation engine, part three: time plans, sensitive words, FAQ and knowledge base,
-- service flows, and where each conversation is in its flow.

-- A tenant's time plan as one validated JSON document (absent: always open).
create table schedules (
    tenant_id integer primary key references tenants(id) on delete cascade,
    schedule text not null,
    updated_at integer not null
);

-- Sensitive words: action 'block' refuses the message, 'mask' replaces the word by ***.
create table sensitive_words (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    word text not null,
    action text not null,
    created_at integer not null
);
create unique index sensitive_words_once on sensitive_words (tenant_id, word);

-- The FAQ (kind 'faq', answered to buyers by the bot) and the knowledge base (kind 'kb',
-- agents' quick replies): one tree shape. valid_from/valid_to: null is unbounded.
create table knowledge (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    kind text not null,
    parent_id integer references knowledge(id) on delete restrict,
    title text not null,
    answer_kind text not null default 'text',
    answer text not null default '',
    keywords text not null default '',
    enabled boolean not null default true,
    is_new boolean not null default false,
    valid_from integer,
    valid_to integer,
    uses integer not null default 0,
    position integer not null default 0,
    created_at integer not null,
    updated_at integer not null
);
create index knowledge_tree on knowledge (tenant_id, kind, parent_id, position);
-- The skill groups a subtree is assigned to (none up the chain: every group sees it).
create table knowledge_groups (
    tenant_id integer not null references tenants(id) on delete cascade,
    knowledge_id integer not null references knowledge(id) on delete cascade,
    skill_group_id integer not null references skill_groups(id) on delete cascade,
    primary key (knowledge_id, skill_group_id)
);

-- Service flows: the draft being edited, bound to at most one customer-service account
-- each, and the immutable published versions conversations run.
create table flows (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    name text not null,
    service_account text,
    draft text not null,
    published_version integer,
    created_at integer not null,
    updated_at integer not null
);
create unique index flows_account on flows (tenant_id, service_account) where service_account is not null;
create table flow_versions (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    flow_id integer not null references flows(id) on delete cascade,
    version integer not null,
    doc text not null,
    published_at integer not null,
    published_by text not null
);
create unique index flow_versions_once on flow_versions (flow_id, version);

-- Where a conversation is in its flow: the published version it started on (kept however
-- often the flow is republished), the node it waits at, wrong answers at a branch, and the
-- bot's last answer with how many times in a row it was given.
alter table conversations add column flow_version integer;
alter table conversations add column flow_node text;
alter table conversations add column flow_tries integer not null default 0;
alter table conversations add column bot_answer integer;
alter table conversations add column bot_repeats integer not null default 0;
