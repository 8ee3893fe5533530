\set id random(1, 1000000)
BEGIN;
SELECT "id", "customer_id", CAST("status" AS TEXT), "total_cents", CAST("created_at" AS TEXT), "note" FROM "orders" WHERE "id" = :id FOR UPDATE;
UPDATE "orders" SET "note" = 'bench note' WHERE "id" = :id RETURNING "id", "customer_id", CAST("status" AS TEXT), "total_cents", CAST("created_at" AS TEXT), "note";
INSERT INTO "gh_audit" ("id", "created_at", "user_id", "user_email", "action", "table_name", "row_key", "changes", "via") VALUES (md5(random()::text), now(), 'u', 'bench@example.com', 'record.updated', 'orders', :id::text, repeat('x', 50), 'ui');
SELECT pg_notify('gh_changes', repeat('y', 140))::text;
SELECT "id", "url" FROM "gh_webhook_endpoints" WHERE "enabled" = true;
COMMIT;
