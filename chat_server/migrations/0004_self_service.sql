-- Migration 0004 (issue 23): self-assessments, self-help library, booking, open days.
-- Every worker-owned row records the possession factors of the session that created it:
-- its token hash (owner_session) and its own device credential (owner_device, the first
-- of sessions.devices). Reads go through one predicate (chat_server/possession.py).

-- One row per completed self-assessment. Answers, score and band are sealed under a data
-- key of the row's own (AAD: the row id, purpose 'assessment'): a dump shows that a worker
-- took a scale, not how they scored.
CREATE TABLE IF NOT EXISTS assessments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    worker_id uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    owner_session bytea NOT NULL,
    owner_device bytea,
    scale text NOT NULL CHECK (scale IN ('phq9', 'gad7', 'stress')),
    kek_version integer NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    -- The worker chose to show this result to the counselor of their next chat.
    share_next boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    -- Insertion order, for results stored within the same clock reading.
    n bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX IF NOT EXISTS assessments_worker ON assessments (worker_id, created_at DESC);

-- Reports count bands without any link to a worker (no id, no time finer than a day).
CREATE TABLE IF NOT EXISTS assessment_counts (
    day date NOT NULL,
    scale text NOT NULL,
    band text NOT NULL,
    n integer NOT NULL,
    PRIMARY KEY (day, scale, band)
);

-- PHQ-9 item 9 above "not at all": the worker's next chat request (from a session that may
-- read the assessment) enters the crisis band and opens an escalation.
CREATE TABLE IF NOT EXISTS assessment_priority (
    assessment_id uuid PRIMARY KEY REFERENCES assessments (id) ON DELETE CASCADE,
    worker_id uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    owner_session bytea NOT NULL,
    owner_device bytea,
    until timestamptz NOT NULL,
    used_by_conversation uuid REFERENCES conversations (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS assessment_priority_worker ON assessment_priority (worker_id);

-- Self-help library, edited by admins in the browser.
CREATE TABLE IF NOT EXISTS library_items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text UNIQUE,
    kind text NOT NULL CHECK (kind IN ('exercise', 'music', 'film', 'ebook', 'course',
                                       'article')),
    title text NOT NULL,
    title_en text NOT NULL DEFAULT '',
    summary text NOT NULL DEFAULT '',
    url text NOT NULL,
    topics text[] NOT NULL DEFAULT '{}',
    suitable text[] NOT NULL DEFAULT '{}',
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- A counselor's recommendation at the end of a chat: the worker sees it from a session
-- that may read that conversation.
CREATE TABLE IF NOT EXISTS library_recommendations (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    item_id uuid NOT NULL REFERENCES library_items (id) ON DELETE CASCADE,
    staff_id uuid NOT NULL REFERENCES staff (id),
    at timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, item_id)
);

-- Centres and workplace stations (职工心灵驿站), edited by admins.
CREATE TABLE IF NOT EXISTS stations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    district text NOT NULL,
    address text NOT NULL,
    hours text NOT NULL DEFAULT '',
    directions text NOT NULL DEFAULT '',
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS booking_slots (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    counselor_id uuid NOT NULL REFERENCES staff (id),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    mode text NOT NULL CHECK (mode IN ('online', 'in_person')),
    station_id uuid REFERENCES stations (id),
    withdrawn_at timestamptz,
    created_at timestamptz NOT NULL,
    CHECK ((mode = 'in_person') = (station_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS booking_slots_time ON booking_slots (starts_at);

CREATE TABLE IF NOT EXISTS bookings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slot_id uuid NOT NULL REFERENCES booking_slots (id),
    worker_id uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    owner_session bytea NOT NULL,
    owner_device bytea,
    status text NOT NULL CHECK (status IN ('booked', 'cancelled', 'attended', 'no_show')),
    conversation_id uuid REFERENCES conversations (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- A slot holds one live booking: the conditional insert that books it is atomic.
CREATE UNIQUE INDEX IF NOT EXISTS bookings_one_per_slot ON bookings (slot_id)
    WHERE status IN ('booked', 'attended', 'no_show');
CREATE INDEX IF NOT EXISTS bookings_worker ON bookings (worker_id);

-- Open days: monthly themed events with a place limit and a waiting list.
CREATE TABLE IF NOT EXISTS open_days (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    theme text NOT NULL,
    teacher text NOT NULL,
    place text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    capacity integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    signup_opens_at timestamptz NOT NULL,
    -- Next waiting-list number: taken under the event's row lock, so it is arrival order.
    next_number integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS open_day_signups (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id uuid NOT NULL REFERENCES open_days (id) ON DELETE CASCADE,
    worker_id uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    owner_session bytea NOT NULL,
    owner_device bytea,
    number integer NOT NULL,
    status text NOT NULL CHECK (status IN ('confirmed', 'waiting', 'cancelled')),
    rating smallint CHECK (rating BETWEEN 1 AND 5),
    rated_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (event_id, number)
);
CREATE UNIQUE INDEX IF NOT EXISTS open_day_signups_once ON open_day_signups (event_id, worker_id)
    WHERE status <> 'cancelled';
