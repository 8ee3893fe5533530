-- The per-token API rate limit, shared by every instance on one database: requests counted
-- per token and one-minute window. Instances lease slices of the budget (one write per
-- slice, not per request), so `used` is what was handed out, at most the limit plus one
-- slice's overshoot that is never granted.
CREATE TABLE gh_api_rate (
    token_id TEXT NOT NULL REFERENCES gh_api_tokens (id) ON DELETE CASCADE,
    window_start BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (token_id, window_start)
);
