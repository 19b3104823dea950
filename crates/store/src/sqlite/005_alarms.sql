-- Schema version 5: the alarm outbox. One row per alarm that fired; its
-- unique key is the "fired" mark, so marking and queueing are one insert.

CREATE TABLE alarm_outbox (
    id              INTEGER PRIMARY KEY,
    alarm_key       TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    -- One address per line.
    recipients      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    delivery        TEXT    NOT NULL CHECK (delivery IN ('queued', 'sent', 'no_recipients', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER
);

-- What the sender looks for: queued alarms by next attempt.
CREATE INDEX alarm_outbox_due ON alarm_outbox (delivery, next_attempt_at);
