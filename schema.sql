-- The only DDL. Applied at every start; every statement is idempotent.
-- Times are UTC ISO-8601 text with microseconds ('2026-11-22T03:38:49.123456Z'),
-- which sorts correctly as text here and maps to timestamptz on PostgreSQL.

-- Every routing decision: who was tried, why, and what happened. Written in
-- the same transaction as the state change it explains.
CREATE TABLE IF NOT EXISTS decisions (
    id              INTEGER PRIMARY KEY,
    at              TEXT    NOT NULL,
    line_id         TEXT,
    channel         TEXT    NOT NULL CHECK (channel IN ('voice', 'sms')),
    sid             TEXT,               -- the CallSid or MessageSid it concerns
    conversation_id INTEGER REFERENCES conversations (id),
    tier            INTEGER,            -- 0-based index into the line's tiers
    responder_id    TEXT,
    kind            TEXT    NOT NULL,   -- closed set: ivr.decisions.DecisionKind
    reason          TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (at);
CREATE INDEX IF NOT EXISTS decisions_by_line ON decisions (line_id, at);
CREATE INDEX IF NOT EXISTS decisions_by_conversation ON decisions (conversation_id);
CREATE INDEX IF NOT EXISTS decisions_by_sid ON decisions (sid);

-- A customer's thread with a line, opened by a text (or a voicemail), owned
-- by whoever ACKs it.
CREATE TABLE IF NOT EXISTS conversations (
    id          INTEGER PRIMARY KEY,
    line_id     TEXT    NOT NULL,
    customer    TEXT    NOT NULL,       -- E.164
    code        INTEGER NOT NULL,       -- what responders type: ACK 12
    origin      TEXT    NOT NULL CHECK (origin IN ('sms', 'voicemail')),
    status      TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
    tier        INTEGER NOT NULL DEFAULT 0,
    owner       TEXT,                   -- responder id once acknowledged
    opened_at   TEXT    NOT NULL,
    acked_at    TEXT,
    closed_at   TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_open_code
    ON conversations (line_id, code) WHERE status = 'open';
CREATE UNIQUE INDEX IF NOT EXISTS conversations_open_customer
    ON conversations (line_id, customer) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS conversations_by_code_time ON conversations (line_id, code, opened_at);

-- Inbound webhooks already handled, keyed by Twilio's SID, so a retried
-- webhook gets the same answer and changes nothing.
CREATE TABLE IF NOT EXISTS inbound_messages (
    message_sid     TEXT    PRIMARY KEY,
    line_id         TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    conversation_id INTEGER REFERENCES conversations (id),
    body            TEXT    NOT NULL,
    media_urls      TEXT    NOT NULL DEFAULT '[]',   -- JSON array
    received_at     TEXT    NOT NULL,
    reply_twiml     TEXT    NOT NULL
);

-- Every outbound REST send, written with the decision that caused it and
-- sent afterwards by the outbox worker.
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    decision_id     INTEGER NOT NULL REFERENCES decisions (id),
    line_id         TEXT    NOT NULL,
    conversation_id INTEGER REFERENCES conversations (id),
    to_number       TEXT    NOT NULL,
    from_number     TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    media_urls      TEXT    NOT NULL DEFAULT '[]',   -- JSON array
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    claimed_until   TEXT,
    message_sid     TEXT,
    delivery_status TEXT,               -- Twilio's latest MessageStatus
    error_code      TEXT,               -- Twilio's ErrorCode for failed/undelivered
    error           TEXT,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_by_sid ON outbox (message_sid);

-- Every delivery status Twilio reported for a message we sent, in arrival
-- order (callbacks can arrive out of order; outbox keeps the furthest one).
CREATE TABLE IF NOT EXISTS delivery_events (
    id          INTEGER PRIMARY KEY,
    message_sid TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error_code  TEXT,
    at          TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_events_by_sid ON delivery_events (message_sid);
