-- Migration 0003: running the service from the browser (issue 20): staff TOTP and recovery
-- codes, one-time set-up links, the directory's last-verified date, shredding marks.


-- TOTP second factor. The secret is sealed with the key ring's KEK (chat_server/totp.py),
-- so a database dump alone cannot mint codes. Last accepted step: a code is used once.
ALTER TABLE staff ADD COLUMN IF NOT EXISTS totp_secret bytea;
ALTER TABLE staff ADD COLUMN IF NOT EXISTS totp_kek_version integer;
ALTER TABLE staff ADD COLUMN IF NOT EXISTS totp_enabled_at timestamptz;
ALTER TABLE staff ADD COLUMN IF NOT EXISTS totp_last_step bigint;

-- One-time recovery codes, stored as SHA-256 of a 50-bit random code.
CREATE TABLE IF NOT EXISTS staff_recovery_codes (
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (staff_id, code_hash)
);

-- One-time set-up links: the admin never sees or sends a password.
CREATE TABLE IF NOT EXISTS staff_setup_links (
    token_hash bytea PRIMARY KEY,
    staff_id uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_by uuid REFERENCES staff (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX IF NOT EXISTS staff_setup_links_staff ON staff_setup_links (staff_id);

-- The referral directory's "last verified" date (stale after 90 days).
ALTER TABLE referral_resources ADD COLUMN IF NOT EXISTS last_verified_at timestamptz;
ALTER TABLE referral_resources ADD COLUMN IF NOT EXISTS verified_by uuid
    REFERENCES staff (id) ON DELETE SET NULL;

-- Retention: when a conversation's key was destroyed and why (counted on the reports page).
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS shredded_at timestamptz;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS shred_reason text;
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
