-- The embedded store. Apply with:
--   npx wrangler d1 execute DB -c worker/wrangler.toml --local --file worker/schema.sql   (local)
--   npx wrangler d1 execute DB -c worker/wrangler.toml --remote --file worker/schema.sql  (production)
-- ids are TEXT: a 64-bit integer would bind as a BigInt, which D1 refuses.
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,          -- the SDK's event id: INSERT OR IGNORE makes redelivery harmless
  t INTEGER NOT NULL,           -- event time, ms since the epoch
  type TEXT NOT NULL,           -- click, page_view, error, ...
  session TEXT NOT NULL,
  key TEXT NOT NULL,            -- write key
  data TEXT NOT NULL,           -- the event as JSON, wire field names, plus enrichment
  received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
CREATE INDEX IF NOT EXISTS events_type_t ON events (type, t);
CREATE TABLE IF NOT EXISTS dead_letters (
  received_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  body TEXT NOT NULL
);
