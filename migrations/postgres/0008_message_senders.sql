-- Who wrote a message on the service side: 'agent' (with agent_id), 'robot' or 'system'.
-- Empty for messages written through the IM protocol (buyers, or a tenant's own back end).
alter table messages add column sender_role text not null default '';
alter table messages add column agent_id bigint;
