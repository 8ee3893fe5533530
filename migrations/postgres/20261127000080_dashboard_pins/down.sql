DROP INDEX IF EXISTS gh_deliveries_attempted_idx;
DROP TABLE gh_dashboard_pins;
