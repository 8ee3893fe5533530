\set id random(1, 1000000)
SELECT "id", "customer_id", CAST("status" AS TEXT), "total_cents", CAST("created_at" AS TEXT), "note" FROM "orders" WHERE "id" = :id;
SELECT "gh_audit"."id", "gh_audit"."created_at", "gh_audit"."user_id", "gh_audit"."user_email", "gh_audit"."action", "gh_audit"."table_name", "gh_audit"."row_key", "gh_audit"."changes", "gh_audit"."via" FROM "gh_audit" WHERE "gh_audit"."table_name" = 'orders' AND "gh_audit"."row_key" = :id::text ORDER BY "gh_audit"."created_at" DESC, "gh_audit"."id" DESC LIMIT 21 OFFSET 0;
SELECT "gh_audit"."created_at", "gh_audit"."id" FROM "gh_audit" WHERE "gh_audit"."table_name" = 'orders' AND "gh_audit"."row_key" = :id::text AND "gh_audit"."action" = 'record.deleted' ORDER BY "gh_audit"."created_at" DESC, "gh_audit"."id" DESC;
