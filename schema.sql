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
    created_at timestamptz NOT NULL DEFAULT now(),
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
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Opaque session tokens; only their SHA-256 is stored.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash bytea PRIMARY KEY,
    worker_id uuid REFERENCES workers (id) ON DELETE CASCADE,
    staff_id uuid REFERENCES staff (id) ON DELETE CASCADE,
    -- A worker session may read past conversations only if it proved a PIN or a device.
    history_access boolean NOT NULL DEFAULT false,
    consent_version text,
    created_at timestamptz NOT NULL DEFAULT now(),
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
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now()
);

-- One data key per conversation, wrapped by a versioned KEK. Shredding sets wrapped to NULL.
CREATE TABLE IF NOT EXISTS data_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kek_version integer NOT NULL,
    wrapped bytea,
    encryptions bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
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
    queued_at timestamptz NOT NULL DEFAULT now(),
    matched_at timestamptz,
    counselor_away_at timestamptz,
    -- The session that opened it: a session without history access may use only its own.
    opened_by_session bytea,
    ended_at timestamptz,
    ended_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A worker has at most one open conversation.
CREATE UNIQUE INDEX IF NOT EXISTS conversations_one_open
    ON conversations (worker_id) WHERE status IN ('waiting', 'active');
CREATE INDEX IF NOT EXISTS conversations_open ON conversations (status)
    WHERE status IN ('waiting', 'active');
CREATE INDEX IF NOT EXISTS conversations_counselor ON conversations (counselor_id, status);

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
    created_at timestamptz NOT NULL DEFAULT now(),
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
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS case_notes (
    conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    counselor_id uuid NOT NULL REFERENCES staff (id),
    topics text[] NOT NULL DEFAULT '{}',
    risk_level smallint NOT NULL,
    note_nonce bytea,
    note_ciphertext bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who did what, when and why: staff reads of transcripts, hand-overs, escalation actions.
CREATE TABLE IF NOT EXISTS audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
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
    at timestamptz NOT NULL DEFAULT now()
);
