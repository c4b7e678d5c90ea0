-- Yizhan's whole PostgreSQL schema. Applied at every start-up: every statement is idempotent.
-- The schema version lives in schema_meta; start-up refuses a database newer than the code.
-- No plaintext of what a worker said and no identity number is ever stored here.

CREATE TABLE IF NOT EXISTS schema_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL
);

-- Workers are known only by an HMAC pseudonym of their number (crypto/pseudonym.py).
CREATE TABLE IF NOT EXISTS workers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pepper_version integer NOT NULL,
    pseudonym bytea NOT NULL,
    alias text NOT NULL,
    -- Argon2id of the optional PIN that unlocks history on a new device.
    pin_hash text,
    created_at timestamptz NOT NULL,
    UNIQUE (pepper_version, pseudonym)
);

CREATE TABLE IF NOT EXISTS staff (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username text NOT NULL UNIQUE,
    display_name text NOT NULL,
    role text NOT NULL CHECK (role IN ('counselor', 'supervisor', 'admin')),
    password_hash text NOT NULL,
    capacity integer NOT NULL DEFAULT 2 CHECK (capacity BETWEEN 1 AND 10),
    disabled_at timestamptz,
    created_at timestamptz NOT NULL
);

-- Opaque session tokens; only their SHA-256 is stored.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash bytea PRIMARY KEY,
    worker_id uuid REFERENCES workers (id) ON DELETE CASCADE,
    staff_id uuid REFERENCES staff (id) ON DELETE CASCADE,
    -- A worker session may read past conversations only if it proved a PIN or a device.
    history_access boolean NOT NULL DEFAULT false,
    consent_version text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CHECK ((worker_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX IF NOT EXISTS sessions_staff ON sessions (staff_id) WHERE staff_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_worker ON sessions (worker_id) WHERE worker_id IS NOT NULL;

-- A long-lived secret a worker's browser keeps so the same device may read its history.
CREATE TABLE IF NOT EXISTS worker_devices (
    device_hash bytea PRIMARY KEY,
    worker_id uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);

-- One data key per conversation, wrapped by a versioned KEK. Shredding sets wrapped to NULL.
CREATE TABLE IF NOT EXISTS data_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kek_version integer NOT NULL,
    wrapped bytea,
    encryptions bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    shredded_at timestamptz
);
CREATE INDEX IF NOT EXISTS data_keys_kek ON data_keys (kek_version) WHERE wrapped IS NOT NULL;

CREATE TABLE IF NOT EXISTS conversations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    worker_id uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    data_key_id uuid NOT NULL REFERENCES data_keys (id),
    status text NOT NULL CHECK (status IN ('waiting', 'active', 'ended', 'abandoned')),
    -- 0 is the crisis band, served first; 1 is everyone else.
    band smallint NOT NULL DEFAULT 1,
    counselor_id uuid REFERENCES staff (id),
    risk_level smallint NOT NULL DEFAULT 0,
    last_seq bigint NOT NULL DEFAULT 0,
    queued_at timestamptz NOT NULL,
    matched_at timestamptz,
    counselor_away_at timestamptz,
    -- The session that opened it: a session without history access may use only its own.
    opened_by_session bytea,
    -- When the counselor's seat was given back: after the case note, or the wrap-up time.
    seat_released_at timestamptz,
    ended_at timestamptz,
    ended_by text,
    created_at timestamptz NOT NULL
);
-- A worker has at most one open conversation.
CREATE UNIQUE INDEX IF NOT EXISTS conversations_one_open
    ON conversations (worker_id) WHERE status IN ('waiting', 'active');
CREATE INDEX IF NOT EXISTS conversations_open ON conversations (status)
    WHERE status IN ('waiting', 'active');
CREATE INDEX IF NOT EXISTS conversations_counselor ON conversations (counselor_id, status);
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS seat_released_at timestamptz;
CREATE INDEX IF NOT EXISTS conversations_wrapping_up ON conversations (ended_at)
    WHERE seat_released_at IS NULL AND counselor_id IS NOT NULL AND status = 'ended';

-- Every message, encrypted. seq is dense per conversation; client_id makes sends idempotent.
CREATE TABLE IF NOT EXISTS messages (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    client_id text NOT NULL,
    sender_role text NOT NULL CHECK (sender_role IN ('worker', 'counselor', 'supervisor', 'system')),
    sender_staff_id uuid REFERENCES staff (id),
    kind text NOT NULL DEFAULT 'text',
    key_version integer NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, sender_role, client_id)
);

CREATE TABLE IF NOT EXISTS ratings (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    counselor_id uuid REFERENCES staff (id),
    score smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    -- The optional comment is encrypted with the conversation's data key.
    comment_nonce bytea,
    comment_ciphertext bytea,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS case_notes (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    counselor_id uuid NOT NULL REFERENCES staff (id),
    topics text[] NOT NULL DEFAULT '{}',
    risk_level smallint NOT NULL,
    note_nonce bytea,
    note_ciphertext bytea,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Who did what, when and why: staff reads of transcripts, hand-overs, escalation actions.
CREATE TABLE IF NOT EXISTS audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_staff_id uuid REFERENCES staff (id),
    action text NOT NULL,
    conversation_id uuid,
    escalation_id uuid,
    reason text,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_conversation ON audit_log (conversation_id);

-- Recent waits feed the estimate a waiting worker sees.
CREATE TABLE IF NOT EXISTS wait_samples (
    id bigserial PRIMARY KEY,
    waited_s double precision NOT NULL,
    at timestamptz NOT NULL
);

-- ---- Crisis escalation and referrals (chat_server/escalation*.py, crisis_feature.py) ----
-- Levels are RiskLevel ints (0 none, 1 watch, 2 high, 3 imminent). Rule ids only, never
-- words; free text from staff is sealed with the conversation's data key.

-- The assessed level of each worker message (not its text), for the context rule.
CREATE TABLE IF NOT EXISTS message_risk (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    level smallint NOT NULL,
    rule_ids text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (conversation_id, seq)
);
-- Written in the same transaction as the message (an outbox): a high-risk row whose
-- escalation was not opened (handled_at still NULL) is picked up by the sweeper.
ALTER TABLE message_risk ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL
    DEFAULT '-infinity';
ALTER TABLE message_risk ADD COLUMN IF NOT EXISTS handled_at timestamptz;
CREATE INDEX IF NOT EXISTS message_risk_unhandled ON message_risk (created_at)
    WHERE handled_at IS NULL;

CREATE TABLE IF NOT EXISTS escalations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 3),
    status text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    source text NOT NULL CHECK (source IN ('message', 'flag', 'screen')),
    reasons text[] NOT NULL DEFAULT '{}',
    opened_at timestamptz NOT NULL,
    ack_deadline timestamptz NOT NULL,
    realerted_at timestamptz,
    owner_staff_id uuid REFERENCES staff (id),
    acked_at timestamptz,
    resolved_at timestamptz,
    resolved_by uuid REFERENCES staff (id),
    outcome text
);
-- One open (or acknowledged) escalation per conversation.
CREATE UNIQUE INDEX IF NOT EXISTS escalations_one_open
    ON escalations (conversation_id) WHERE status IN ('open', 'acknowledged');
CREATE INDEX IF NOT EXISTS escalations_deadline
    ON escalations (ack_deadline) WHERE status = 'open' AND realerted_at IS NULL;

-- Every signal and action on an escalation; a free-text note is sealed
-- (purpose 'escalation_reason', seq = this row's id).
CREATE TABLE IF NOT EXISTS escalation_events (
    id bigserial PRIMARY KEY,
    escalation_id uuid NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    at timestamptz NOT NULL,
    actor_staff_id uuid REFERENCES staff (id),
    action text NOT NULL,
    level smallint,
    rule_ids text[] NOT NULL DEFAULT '{}',
    note_nonce bytea,
    note_ciphertext bytea
);
CREATE INDEX IF NOT EXISTS escalation_events_escalation ON escalation_events (escalation_id);

-- Supervisor whispers to the counselor; sealed (purpose 'whisper', seq = id).
CREATE TABLE IF NOT EXISTS whispers (
    id bigserial PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    supervisor_id uuid NOT NULL REFERENCES staff (id),
    counselor_id uuid REFERENCES staff (id),
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    at timestamptz NOT NULL
);

-- Pre-chat screen: scores only (PHQ-2 items, PHQ-9 item 9).
CREATE TABLE IF NOT EXISTS screenings (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    phq2_1 smallint NOT NULL CHECK (phq2_1 BETWEEN 0 AND 3),
    phq2_2 smallint NOT NULL CHECK (phq2_2 BETWEEN 0 AND 3),
    phq9_9 smallint NOT NULL CHECK (phq9_9 BETWEEN 0 AND 3),
    at timestamptz NOT NULL
);

-- The referral directory; seed rows carry seed_key so start-up seeding is idempotent.
CREATE TABLE IF NOT EXISTS referral_resources (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seed_key text UNIQUE,
    name text NOT NULL,
    phone text NOT NULL,
    kind text NOT NULL,
    hours text NOT NULL DEFAULT '',
    region text NOT NULL DEFAULT '',
    verify_before_launch boolean NOT NULL DEFAULT true,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS referrals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    escalation_id uuid NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    resource_id uuid NOT NULL REFERENCES referral_resources (id),
    created_by uuid REFERENCES staff (id),
    status text NOT NULL CHECK (status IN ('proposed', 'accepted', 'declined', 'contacted',
                                           'completed')),
    message_seq bigint,
    created_at timestamptz NOT NULL,
    accepted_at timestamptz,
    declined_at timestamptz,
    contacted_at timestamptz,
    completed_at timestamptz
);

-- Follow-ups of a referral: 24 h, 1 week and 1 month after it was made.
CREATE TABLE IF NOT EXISTS referral_followups (
    id bigserial PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    due_at timestamptz NOT NULL,
    label text NOT NULL,
    done_at timestamptz,
    done_by uuid REFERENCES staff (id),
    UNIQUE (referral_id, label)
);
CREATE INDEX IF NOT EXISTS referral_followups_due ON referral_followups (due_at)
    WHERE done_at IS NULL;

-- ---- Roster (chat_server/roster.py, roster_store.py) ---------------------------------
-- Minutes after local midnight in the service time zone: 0–1440 (1440 is 24:00).
CREATE TABLE IF NOT EXISTS roster_patterns (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    -- 0 = Monday, as Python's date.weekday().
    weekdays smallint[] NOT NULL,
    start_minute smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1440),
    end_minute smallint NOT NULL CHECK (end_minute BETWEEN 0 AND 1440 AND end_minute > start_minute),
    valid_from date,
    valid_until date,
    note text NOT NULL DEFAULT '',
    created_by uuid REFERENCES staff (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS roster_patterns_staff ON roster_patterns (staff_id);

-- One-off changes: leave removes pattern time, extra adds a shift (a swap is one of each).
CREATE TABLE IF NOT EXISTS roster_changes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    day date NOT NULL,
    kind text NOT NULL CHECK (kind IN ('leave', 'extra')),
    start_minute smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1440),
    end_minute smallint NOT NULL CHECK (end_minute BETWEEN 0 AND 1440 AND end_minute > start_minute),
    note text NOT NULL DEFAULT '',
    created_by uuid REFERENCES staff (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS roster_changes_day ON roster_changes (day, staff_id);

-- A supervisor's permission to be on duty without a scheduled shift, until a moment.
CREATE TABLE IF NOT EXISTS duty_approvals (
    id bigserial PRIMARY KEY,
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    approved_by uuid REFERENCES staff (id) ON DELETE SET NULL,
    until timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS duty_approvals_staff ON duty_approvals (staff_id, until);
CREATE INDEX IF NOT EXISTS audit_log_duty ON audit_log (actor_staff_id, at)
    WHERE action IN ('duty_on', 'duty_off');

-- Aborts the statement it is in (SQLSTATE 40001, serialization_failure) unless `ok`.
-- A batch of messages is written optimistically in one statement; when a conversation
-- moved on since it was read, this undoes the whole statement and the node retries
-- under row locks (chat_server/conversations.py).
CREATE OR REPLACE FUNCTION yz_expect(ok boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'conversation changed since it was read'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$;

-- Possession (issue 16, docs/SECURITY.md): an ID number opens nothing. A conversation is
-- read by the session that opened it, by a session holding the device credential that
-- opened it, or by a session that proved a PIN set on that device. So a number may have
-- several open conversations, one per device, none of which can see the others.
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS opened_by_device bytea;
DROP INDEX IF EXISTS conversations_one_open;
CREATE UNIQUE INDEX IF NOT EXISTS conversations_one_open_per_device
    ON conversations (worker_id, opened_by_device) WHERE status IN ('waiting', 'active');
CREATE INDEX IF NOT EXISTS conversations_worker ON conversations (worker_id, status);
-- The device hashes a worker session holds: its own first, then any a PIN opened.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS devices bytea[] NOT NULL DEFAULT '{}';
-- HMAC-SHA256(pepper, worker id and PIN): a PIN belongs to the devices it was set on.
ALTER TABLE worker_devices ADD COLUMN IF NOT EXISTS pin_digest bytea;
CREATE INDEX IF NOT EXISTS worker_devices_pin ON worker_devices (worker_id, pin_digest)
    WHERE pin_digest IS NOT NULL;

-- One clock: every time is written by the node (passed as a parameter), never by
-- PostgreSQL's now(), so no column has a time default (see docs/DECISIONS.md).
ALTER TABLE workers ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE staff ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE sessions ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE worker_devices ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE worker_devices ALTER COLUMN last_used_at DROP DEFAULT;
ALTER TABLE data_keys ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE conversations ALTER COLUMN queued_at DROP DEFAULT;
ALTER TABLE conversations ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE messages ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE ratings ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE case_notes ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE case_notes ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE audit_log ALTER COLUMN at DROP DEFAULT;
ALTER TABLE wait_samples ALTER COLUMN at DROP DEFAULT;
ALTER TABLE whispers ALTER COLUMN at DROP DEFAULT;
ALTER TABLE screenings ALTER COLUMN at DROP DEFAULT;
ALTER TABLE referral_resources ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE roster_patterns ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE roster_changes ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE duty_approvals ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE message_risk ALTER COLUMN created_at DROP DEFAULT;

-- The learned crisis stage runs after the acknowledgement (chat_server/crisis_stage.py):
-- a row is stored with its message at the rules' level and pending; the stage clears it.
-- Rows from before this column are not pending (the default is only for them).
ALTER TABLE message_risk ADD COLUMN IF NOT EXISTS pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS message_risk_pending ON message_risk (created_at) WHERE pending;
