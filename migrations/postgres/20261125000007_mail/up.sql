-- Outgoing mail, queued so a slow mail server never blocks a page, retried when it fails.
CREATE TABLE gh_mail_queue (
    id TEXT PRIMARY KEY NOT NULL,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    locked_until TIMESTAMP
);
CREATE INDEX gh_mail_queue_due_idx ON gh_mail_queue (status, next_attempt_at);
