-- One inbound message + its outbox event in one transaction: the database half of the ingest path.
\set conv random(1, 1000)
BEGIN;
INSERT INTO bench_pg_message (conversation_id, seq, direction, text, partner_entry_id, created_at)
    VALUES (:conv, :client_id, 'inbound', 'hello from pgbench', md5(random()::text), now());
INSERT INTO bench_pg_event (type, tenant_id, data, agent_ids, created_at)
    VALUES ('message.created', 1, '{"text": "hello from pgbench", "direction": "inbound"}'::jsonb, '["a"]'::jsonb, now());
COMMIT;
