DROP TABLE gh_deliveries;
DROP TABLE gh_outbox;
DROP TABLE gh_webhook_endpoints;
