-- The statements one SCIM create sends today (an invitation: the domain is not verified), as PostgreSQL's log shows
-- them, in one transaction under the organization's lock: the database's part of a create, without the server.
-- pgbench -n -M extended -c 8 -j 2 -T 10 -D org=ORG_ID -f bench/scim-create-today.pgbench.sql DATABASE_URL
\set n random(1, 2000000000)
BEGIN;
SELECT * FROM organizations WHERE id = :org::uuid AND deleted_at IS NULL FOR UPDATE;
SELECT * FROM roles WHERE org_id = :org::uuid AND ladder = 'org';
SELECT * FROM memberships WHERE scope_id = :org::uuid AND status = 'pending' AND source = 'invitation' AND expires_at <= now() LIMIT 1000;
SELECT * FROM accounts WHERE email = ('u' || :n::text || '@bench.test') LIMIT 1;
SELECT * FROM memberships WHERE scope_id = :org::uuid AND status IN ('pending','active') AND email = ('u' || :n::text || '@bench.test') LIMIT 1;
SELECT * FROM memberships WHERE scope_id = :org::uuid AND external_id = ('E' || :n::text) AND status IN ('pending','active') LIMIT 1;
SELECT COUNT(id) FROM organization_domains WHERE org_id = :org::uuid AND domain = 'bench.test' AND verified_at IS NOT NULL;
SELECT COUNT(*) AS n FROM (SELECT 1 FROM outbox_messages WHERE org_id = :org::uuid AND scheduled_at > now() - interval '1 hour' AND status <> 'superseded' LIMIT 500) AS slots;
INSERT INTO memberships (id, org_id, scope_id, email, name, role_key, status, source, external_id, attributes, token_hash, expires_at, delivery_status, delivery_at, created_at, updated_at) VALUES (gen_random_uuid(), :org::uuid, :org::uuid, ('u' || :n::text || '@bench.test'), 'User', 'member', 'pending', 'invitation', ('E' || :n::text), '{}', md5(:n::text), now() + interval '7 days', 'queued', now(), now(), now());
INSERT INTO outbox_messages (id, kind, org_id, recipient, subject, text_body, html_body, payload, status, attempts, next_attempt_at, scheduled_at, created_at) VALUES (gen_random_uuid(), 'invitation', :org::uuid, ('u' || :n::text || '@bench.test'), 'IdP has invited you', '', '', '{"a":"b"}', 'queued', 0, now(), now(), now());
UPDATE organizations SET event_seq = event_seq + 1 WHERE id = :org::uuid RETURNING event_seq;
INSERT INTO audit_events (id, at, actor_type, actor_id, action, org_id, target_email, after, request_id, seq) VALUES (gen_random_uuid(), now(), 'api_key', gen_random_uuid(), 'membership.invited', :org::uuid, ('u' || :n::text || '@bench.test'), '{"role":"member"}', 'r', :n);
INSERT INTO scim_users (id, org_id, user_name, external_id, given_name, family_name, created_at, updated_at) VALUES (gen_random_uuid(), :org::uuid, ('u' || :n::text || '@bench.test'), ('E' || :n::text), 'User', '0', now(), now());
NOTIFY roster_changes;
COMMIT;
