-- Callbacks to the tenant's own server (Tencent IM "third-party callbacks").
alter table im_apps add column callback_url text not null default '';
alter table im_apps add column callback_token text not null default '';

-- After-event callbacks waiting to be delivered. Rows are written in the same transaction as
-- what they report, so a crash or restart loses none. status: pending, done, failed.
create table callback_outbox (
    id integer primary key autoincrement,
    tenant_id integer not null references tenants(id) on delete cascade,
    command text not null,
    body text not null,
    status text not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at integer not null,
    last_error text not null default '',
    created_at integer not null,
    updated_at integer not null
);
create index callback_outbox_due on callback_outbox (status, next_attempt_at);
create index callback_outbox_tenant on callback_outbox (tenant_id, status, id);
