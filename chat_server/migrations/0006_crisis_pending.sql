-- Migration 0006 (issue 18): the learned crisis stage runs after the acknowledgement
-- (chat_server/crisis_stage.py): a row is stored with its message at the rules' level and
-- pending; the stage clears it. Rows from before this column are not pending (the default
-- is only for them).
ALTER TABLE message_risk ADD COLUMN IF NOT EXISTS pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS message_risk_pending ON message_risk (created_at) WHERE pending;
