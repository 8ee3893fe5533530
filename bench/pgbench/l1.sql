SELECT "id", "customer_id", CAST("status" AS TEXT), "total_cents", CAST("created_at" AS TEXT), "note" FROM "orders" ORDER BY "orders"."created_at" DESC, "orders"."id" DESC LIMIT 51;
