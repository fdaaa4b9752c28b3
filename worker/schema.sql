-- The embedded store. Apply with:
--   npx wrangler d1 execute DB -c worker/wrangler.toml --local --file worker/schema.sql   (local)
--   npx wrangler d1 execute DB -c worker/wrangler.toml --remote --file worker/schema.sql  (production)
-- ids are TEXT: a 64-bit integer would bind as a BigInt, which D1 refuses.
-- Upgrading a database made by an earlier version: apply this file again, and once
--   ALTER TABLE events ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
--   ALTER TABLE events ADD COLUMN claim TEXT;
--   ALTER TABLE events ADD COLUMN claim_at INTEGER;
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,          -- the SDK's event id: INSERT OR IGNORE makes redelivery harmless
  t INTEGER NOT NULL,           -- event time, ms since the epoch
  type TEXT NOT NULL,           -- click, page_view, error, ...
  session TEXT NOT NULL,
  key TEXT NOT NULL,            -- write key
  data TEXT NOT NULL,           -- the event as JSON, wire field names, plus enrichment
  received_at INTEGER NOT NULL,
  forwarded INTEGER NOT NULL DEFAULT 0, -- 1 once the OTLP receiver took it: redelivery skips it
  claim TEXT,                   -- the delivery (queue message id) forwarding it right now, if any
  claim_at INTEGER              -- when it claimed it (a claim expires after 15 minutes)
);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
CREATE INDEX IF NOT EXISTS events_type_t ON events (type, t);
CREATE TABLE IF NOT EXISTS dead_letters (
  received_at INTEGER NOT NULL,
  reason TEXT NOT NULL,         -- why the consumer gave up, and after how many deliveries
  body TEXT NOT NULL            -- the OTLP document as it was
);
CREATE INDEX IF NOT EXISTS dead_letters_received_at ON dead_letters (received_at);
-- One random salt per UTC day for the client hash; the cron trigger deletes salts after 48 h,
-- after which nobody (the operator included) can link that day's hashes to an address.
CREATE TABLE IF NOT EXISTS salts (
  day INTEGER PRIMARY KEY,      -- days since the epoch (UTC)
  salt TEXT NOT NULL
);
-- Events stored per write key per UTC day, for DAILY_QUOTAS (kept 2 days).
CREATE TABLE IF NOT EXISTS usage (
  key TEXT NOT NULL,
  day INTEGER NOT NULL,
  events INTEGER NOT NULL,
  PRIMARY KEY (key, day)
);
-- Sampling rules (PUT /v1/sampling-rules): one row, the whole validated rule set as JSON,
-- replaced at once; each isolate reads it at most every RULES_CACHE_SECONDS (default 30).
CREATE TABLE IF NOT EXISTS sampling_rules (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  rules TEXT NOT NULL,          -- {"rules":[{"id","rate","types"?,"route"?,"release"?,"keep_sessions_with_error"?}]}
  updated_at INTEGER NOT NULL   -- ms since the epoch
);
-- Sessions that had an error (written by the queue consumer for every stored error; deleted by
-- the cron trigger after a day): a rule with keep_sessions_with_error keeps their later events.
CREATE TABLE IF NOT EXISTS error_sessions (
  session TEXT PRIMARY KEY,
  at INTEGER NOT NULL           -- when the first error was stored, ms since the epoch
);
CREATE INDEX IF NOT EXISTS error_sessions_at ON error_sessions (at);
-- Symbolication (PUT /v1/sourcemaps; src/edge/symbols.rs): one row per uploaded file and
-- release; the prepared text (a source map without sourcesContent, or a wasm module's function
-- names) in chunks of at most 1,000,000 bytes, shared by every release that uploaded the same bytes.
CREATE TABLE IF NOT EXISTS artifacts (
  release TEXT NOT NULL,        -- the envelope's release
  url TEXT NOT NULL,            -- the file's URL without query or fragment, or ~/path (any origin)
  kind TEXT NOT NULL,           -- sourcemap | wasm
  hash TEXT NOT NULL,           -- SHA-256 of the upload (hex): the chunks' key
  bytes INTEGER NOT NULL,       -- the prepared text's size
  chunks INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL,
  PRIMARY KEY (release, url)
);
CREATE TABLE IF NOT EXISTS artifact_chunks (
  hash TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (hash, seq)
);
