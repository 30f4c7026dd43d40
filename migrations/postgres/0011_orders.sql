-- Order lookup: each tenant's order provider (an HTTPS endpoint and the secret Kefu signs
-- its requests with).
create table order_providers (
    tenant_id bigint primary key references tenants(id) on delete cascade,
    url text not null,
    secret text not null,
    updated_at bigint not null
);
