-- The IM app of each tenant (Tencent-IM-compatible gateway): SDKAppID, secret key, admin
-- identifiers, customer-service accounts, and the IM accounts (buyers) imported into it.

create table im_apps (
    tenant_id bigint primary key references tenants(id) on delete cascade,
    sdk_app_id bigint not null unique,
    secret_key text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table im_app_admins (
    tenant_id bigint not null references tenants(id) on delete cascade,
    identifier text not null,
    primary key (tenant_id, identifier)
);

create table im_service_accounts (
    tenant_id bigint not null references tenants(id) on delete cascade,
    identifier text not null,
    skill_group_id bigint references skill_groups(id) on delete set null,
    primary key (tenant_id, identifier)
);

-- kicked_at: UserSigs signed before it no longer log in (im_open_login_svc/kick).
create table im_accounts (
    tenant_id bigint not null references tenants(id) on delete cascade,
    user_id text not null,
    nick text not null default '',
    face_url text not null default '',
    kind bigint not null default 0,
    created_at bigint not null,
    kicked_at bigint,
    primary key (tenant_id, user_id)
);

-- Tenants created before this migration get their app now.
insert into im_apps (tenant_id, sdk_app_id, secret_key, created_at, updated_at)
    select id, 1400000000 + id, replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), created_at, created_at from tenants;
insert into im_app_admins (tenant_id, identifier) select id, 'administrator' from tenants;
insert into im_service_accounts (tenant_id, identifier) select id, '@customer_service_account' from tenants;
