-- The IM app of each tenant (Tencent-IM-compatible gateway): SDKAppID, secret key, admin
-- identifiers, customer-service accounts, and the IM accounts (buyers) imported into it.

create table im_apps (
    tenant_id integer primary key references tenants(id) on delete cascade,
    sdk_app_id integer not null unique,
    secret_key text not null,
    created_at integer not null,
    updated_at integer not null
);

create table im_app_admins (
    tenant_id integer not null references tenants(id) on delete cascade,
    identifier text not null,
    primary key (tenant_id, identifier)
);

create table im_service_accounts (
    tenant_id integer not null references tenants(id) on delete cascade,
    identifier text not null,
    skill_group_id integer references skill_groups(id) on delete set null,
    primary key (tenant_id, identifier)
);

-- kicked_at: UserSigs signed before it no longer log in (im_open_login_svc/kick).
create table im_accounts (
    tenant_id integer not null references tenants(id) on delete cascade,
    user_id text not null,
    nick text not null default '',
    face_url text not null default '',
    kind integer not null default 0,
    created_at integer not null,
    kicked_at integer,
    primary key (tenant_id, user_id)
);

-- Tenants created before this migration get their app now.
insert into im_apps (tenant_id, sdk_app_id, secret_key, created_at, updated_at)
    select id, 1400000000 + id, lower(hex(randomblob(32))), created_at, created_at from tenants;
insert into im_app_admins (tenant_id, identifier) select id, 'administrator' from tenants;
insert into im_service_accounts (tenant_id, identifier) select id, '@customer_service_account' from tenants;
