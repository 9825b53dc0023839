-- Schema version 1 (ivr/store/migrations.py): later changes are numbered steps
-- there. Every statement is idempotent, so a database made before versions were
-- recorded is brought up to this one. Tables come before the tables that
-- reference them (PostgreSQL checks references as it creates them).
-- Times are UTC ISO-8601 text with microseconds ('2026-11-22T03:38:49.123456Z'),
-- which sorts correctly as text here and maps to timestamptz on PostgreSQL.

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
    last_forward_at TEXT,               -- the flood window counts from here
    acked_at    TEXT,
    closed_at   TEXT,
    last_call_at TEXT                   -- when the last round (everyone, once) went out
    -- redacted_at TEXT: migrations.py, step 3
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_open_code
    ON conversations (line_id, code) WHERE status = 'open';
CREATE UNIQUE INDEX IF NOT EXISTS conversations_open_customer
    ON conversations (line_id, customer) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS conversations_by_code_time ON conversations (line_id, code, opened_at);
CREATE INDEX IF NOT EXISTS conversations_recently_opened ON conversations (line_id, opened_at);
CREATE INDEX IF NOT EXISTS conversations_recently_closed ON conversations (line_id, closed_at);
CREATE INDEX IF NOT EXISTS conversations_by_customer ON conversations (customer);

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
-- (line_id) alone: SQLite appends the rowid (id), so "a line's latest
-- decisions" reads the index backwards with no sort.
DROP INDEX IF EXISTS decisions_by_line;
CREATE INDEX IF NOT EXISTS decisions_by_line_id ON decisions (line_id);
CREATE INDEX IF NOT EXISTS decisions_by_conversation ON decisions (conversation_id);
CREATE INDEX IF NOT EXISTS decisions_by_sid ON decisions (sid);
CREATE INDEX IF NOT EXISTS decisions_by_responder ON decisions (responder_id);

-- The codes a line has handed out, so a new conversation's code is found
-- without reading the line's history: reusable_at is NULL while an open
-- conversation holds the code, and a day after it closed otherwise (a late
-- 'ACK 3' must not land on a stranger's new conversation).
CREATE TABLE IF NOT EXISTS line_codes (
    line_id     TEXT    NOT NULL,
    code        INTEGER NOT NULL,
    reusable_at TEXT,
    PRIMARY KEY (line_id, code)
);
-- Covering: the smallest free code is read from the index alone, in code order.
CREATE INDEX IF NOT EXISTS line_codes_in_order ON line_codes (line_id, code, reusable_at);

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
    forwarded       INTEGER NOT NULL DEFAULT 1,       -- 0: held back by the flood window
    reply_twiml     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS inbound_by_conversation ON inbound_messages (conversation_id);
CREATE INDEX IF NOT EXISTS inbound_by_sender ON inbound_messages (sender);

-- Every outbound REST send, written with the decision that caused it and
-- sent afterwards by the outbox worker.
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    decision_id     INTEGER NOT NULL REFERENCES decisions (id),
    line_id         TEXT    NOT NULL,
    conversation_id INTEGER REFERENCES conversations (id),
    purpose         TEXT    NOT NULL CHECK (purpose IN ('page', 'notice', 'customer', 'relay')),
    responder_id    TEXT,               -- the responder it goes to, if it goes to one
    tier            INTEGER,            -- for a page: the tier it pages
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
CREATE INDEX IF NOT EXISTS outbox_by_conversation ON outbox (conversation_id);

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

-- Who has been paged for a conversation still waiting for an owner: a bare
-- ACK takes the latest conversation paged to the sender, and a taken
-- conversation is announced to everyone paged for it. Rows go when the
-- conversation is taken or closed; the decision log keeps the history.
CREATE TABLE IF NOT EXISTS pages (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    responder_id    TEXT    NOT NULL,
    tier            INTEGER NOT NULL,
    paged_at        TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, responder_id, tier)
);
CREATE INDEX IF NOT EXISTS pages_by_responder ON pages (responder_id, paged_at);

-- Timers are rows with a due time, swept by every worker; the sweep that
-- fires one does so in the same transaction that marks it fired, so each
-- fires once however many workers share the database.
CREATE TABLE IF NOT EXISTS timers (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('ack_timeout', 'flush')),
    tier            INTEGER NOT NULL,
    due_at          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'fired', 'cancelled')),
    fired_at        TEXT
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (state, due_at);
CREATE INDEX IF NOT EXISTS timers_by_conversation ON timers (conversation_id, state);

-- Customers who texted STOP (or another opt-out word) to a line's number.
CREATE TABLE IF NOT EXISTS opt_outs (
    line_id     TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    opted_out_at TEXT   NOT NULL,
    PRIMARY KEY (line_id, number)
);

-- A call to a line, from the first webhook to its end.
CREATE TABLE IF NOT EXISTS calls (
    call_sid     TEXT    PRIMARY KEY,
    line_id      TEXT    NOT NULL,
    caller       TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('menu', 'ringing', 'connected', 'voicemail', 'ended')),
    menu_option  TEXT,                  -- the digit of the menu option chosen, if any
    menu_tries   INTEGER NOT NULL DEFAULT 0,
    tier         INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT    NOT NULL,
    deadline_at  TEXT    NOT NULL,      -- after this, no more tiers: voicemail
    ended_at     TEXT,
    connected_to TEXT,                  -- responder id
    first_twiml  TEXT    NOT NULL DEFAULT ''   -- the answer to a retried first webhook
);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (started_at);
CREATE INDEX IF NOT EXISTS calls_by_caller ON calls (caller);

-- One <Dial> of one tier; its id is in the Dial action and whisper URLs.
CREATE TABLE IF NOT EXISTS dial_attempts (
    id           INTEGER PRIMARY KEY,
    call_sid     TEXT    NOT NULL REFERENCES calls (call_sid),
    tier         INTEGER NOT NULL,
    responders   TEXT    NOT NULL,      -- JSON array of the ids rung at once
    started_at   TEXT    NOT NULL,
    accepted_by  TEXT,                  -- who pressed 1 first
    accepted_at  TEXT,
    dial_status  TEXT,                  -- DialCallStatus
    bridged      INTEGER,               -- DialBridged
    finished_at  TEXT
);
CREATE INDEX IF NOT EXISTS dial_attempts_by_call ON dial_attempts (call_sid);

-- Voicemails left after every tier failed; each opens (or joins) a conversation.
CREATE TABLE IF NOT EXISTS voicemails (
    recording_sid   TEXT    PRIMARY KEY,
    call_sid        TEXT    NOT NULL,
    line_id         TEXT    NOT NULL,
    caller          TEXT    NOT NULL,
    conversation_id INTEGER REFERENCES conversations (id),
    recording_url   TEXT    NOT NULL,
    duration        INTEGER NOT NULL,
    transcription   TEXT,
    received_at     TEXT    NOT NULL
);

-- A responder's own OFF or ON by text, until their next scheduled change.
CREATE TABLE IF NOT EXISTS availability_overrides (
    responder_id TEXT    PRIMARY KEY,
    status       TEXT    NOT NULL CHECK (status IN ('on_call', 'off')),
    until        TEXT,                  -- NULL: until they text again
    set_at       TEXT    NOT NULL
);

-- Numbers Twilio said can never take a text (a landline, an invalid or
-- unsubscribed number): not texted again until they work again (the
-- responder texts the line, or a text to them is delivered).
CREATE TABLE IF NOT EXISTS unreachable_numbers (
    number      TEXT PRIMARY KEY,       -- E.164
    error_code  TEXT,                   -- Twilio's error code that showed it
    reason      TEXT NOT NULL,
    marked_at   TEXT NOT NULL
);

-- Every check of the operator's password (the dashboard's login form and
-- /metrics' HTTP Basic) within the attempt window, reserved before it is
-- checked: 'pending' and 'wrong' count against the limits, 'ok' does not.
CREATE TABLE IF NOT EXISTS login_attempts (
    id           INTEGER PRIMARY KEY,
    address      TEXT    NOT NULL,      -- the client's address (an IPv6 client's /64)
    attempted_at TEXT    NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('pending', 'wrong', 'ok'))
);
CREATE INDEX IF NOT EXISTS login_attempts_by_address ON login_attempts (address, attempted_at);
CREATE INDEX IF NOT EXISTS login_attempts_by_time ON login_attempts (attempted_at);

-- Operators' logins: the session cookie carries the random id, this keeps
-- its SHA-256. Logging out revokes it; it ends at expires_at either way.
CREATE TABLE IF NOT EXISTS operator_sessions (
    id_hash     TEXT    PRIMARY KEY,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    revoked_at  TEXT
);

-- Numbers blocked by a responder's text (or the store's block function):
-- their texts page nobody and their calls are rejected. line_id '*' blocks
-- a number on every line. Numbers blocked in the config are not here.
CREATE TABLE IF NOT EXISTS blocked_numbers (
    line_id     TEXT NOT NULL,
    number      TEXT NOT NULL,          -- E.164
    blocked_by  TEXT NOT NULL,          -- a responder id, or who else blocked it
    reason      TEXT NOT NULL,
    blocked_at  TEXT NOT NULL,
    PRIMARY KEY (line_id, number)
);

-- The flood limit counts one number's recent texts to a line.
CREATE INDEX IF NOT EXISTS inbound_by_line_sender_time
    ON inbound_messages (line_id, sender, received_at);
