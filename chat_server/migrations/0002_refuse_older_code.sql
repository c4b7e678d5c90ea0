-- Migration 0002: code from before numbered migrations applied its own schema at start-up
-- and refused only a schema_meta.version above 1. Marking 2 makes such a node refuse this
-- database instead of running its DDL against a schema it does not know.
INSERT INTO schema_meta (singleton, version) VALUES (true, 2)
    ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version;
