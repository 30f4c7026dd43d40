-- Kefu foundation: tenants and plans, accounts (seats), skill groups, login sessions,
-- login throttling, the audit log and the authorization policy.
-- Timestamps are milliseconds since the Unix epoch, bound from the application clock.

create table tenants (
    id integer primary key autoincrement,
    code text not null unique,
    name text not null,
    max_accounts integer not null,
    max_online integer not null,
    disabled boolean not null default false,
    created_at integer not null,
    updated_at integer not null
);

-- Operators have no tenant (tenant_id is null); every other account belongs to one.
create table accounts (
    id integer primary key autoincrement,
    tenant_id integer references tenants(id) on delete cascade,
    username text not null,
    display_name text not null,
    real_name text not null default '',
    phone text not null default '',
    email text not null default '',
    role text not null,
    password_hash text not null,
    must_change_password boolean not null,
    is_owner boolean not null default false,
    disabled boolean not null default false,
    created_at integer not null,
    updated_at integer not null
);
create unique index accounts_tenant_username on accounts (tenant_id, username) where tenant_id is not null;
create unique index accounts_operator_username on accounts (username) where tenant_id is null;

create table skill_groups (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    name text not null,
    created_at integer not null
);
create unique index skill_groups_tenant_name on skill_groups (tenant_id, name);

create table skill_group_members (
    tenant_id integer not null references tenants(id) on delete cascade,
    skill_group_id integer not null references skill_groups(id) on delete cascade,
    account_id integer not null references accounts(id) on delete cascade,
    primary key (skill_group_id, account_id)
);
create index skill_group_members_account on skill_group_members (tenant_id, account_id);

-- A login. The bearer token itself is never stored, only its SHA-256.
create table login_sessions (
    id integer primary key autoincrement,
    tenant_id integer references tenants(id) on delete cascade,
    account_id integer not null references accounts(id) on delete cascade,
    token_hash text not null unique,
    ip text not null,
    user_agent text not null,
    created_at integer not null,
    last_seen_at integer not null,
    revoked_at integer,
    revoked_reason text
);
create index login_sessions_open on login_sessions (account_id) where revoked_at is null;
create index login_sessions_tenant_open on login_sessions (tenant_id, last_seen_at) where revoked_at is null;

-- Failed-login counters, keyed by account (acct:...) and by client address (ip:...).
create table login_throttle (
    key text primary key,
    failures integer not null,
    locked_until integer not null,
    updated_at integer not null
);

create table audit_log (
    id integer primary key autoincrement,
    tenant_id integer,
    actor_id integer,
    actor text not null,
    action text not null,
    target text not null,
    detail text not null,
    ip text not null,
    created_at integer not null
);
create index audit_log_tenant on audit_log (tenant_id, id);

-- casbin's rules: p (role, domain, object, action) and g (subject, role, domain).
create table casbin_rule (
    id integer primary key autoincrement,
    ptype text not null,
    v0 text not null default '',
    v1 text not null default '',
    v2 text not null default '',
    v3 text not null default '',
    v4 text not null default '',
    v5 text not null default ''
);
create index casbin_rule_ptype on casbin_rule (ptype, v0);
