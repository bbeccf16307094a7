/**
 * Schema migrations, applied in order at start-up, each exactly once, under an
 * advisory lock so that several platform processes on one PostgreSQL agree.
 * Never edit a migration that has shipped: add a new one.
 */
import type { Db } from "./db";

export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: "core objects",
    sql: `
CREATE TABLE api_keys (
  key_id      text PRIMARY KEY,
  secret_hash text NOT NULL,
  scope       text NOT NULL CHECK (scope IN ('API', 'ADMIN')),
  owner       text NOT NULL,
  alias       text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE TABLE environments (
  owner      text NOT NULL,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, name)
);
CREATE TABLE apps (
  id               text PRIMARY KEY,
  owner            text NOT NULL,
  name             text NOT NULL,
  environment      text NOT NULL,
  auth_mode        text NOT NULL DEFAULT 'private',
  scaling          jsonb NOT NULL,
  current_revision text,
  is_rolling       boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner, name, environment),
  FOREIGN KEY (owner, environment) REFERENCES environments (owner, name)
);
CREATE TABLE revisions (
  id            text PRIMARY KEY,
  app_id        text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  status        text NOT NULL CHECK (status IN ('Deploying', 'Deployed', 'Failed', 'Suspended')),
  source_object text NOT NULL,
  code_hash     text NOT NULL,
  files         jsonb NOT NULL,
  code_settings jsonb NOT NULL,
  scaling       jsonb NOT NULL,
  message       text NOT NULL DEFAULT '',
  annotations   jsonb NOT NULL DEFAULT '{}',
  error         text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revisions_app ON revisions (app_id, created_at);
CREATE TABLE blobs (
  hash       text PRIMARY KEY,
  content    bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE runners (
  id           text PRIMARY KEY,
  app_id       text NOT NULL,
  revision_id  text NOT NULL,
  state        text NOT NULL,
  machine_type text NOT NULL,
  host         text NOT NULL,
  pid          integer,
  port         integer,
  error        text,
  started_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runners_app ON runners (app_id, state);
`,
  },
  {
    id: 2,
    name: "request queue",
    sql: `
CREATE TABLE requests (
  id                  text PRIMARY KEY,
  app_id              text NOT NULL,
  owner               text NOT NULL,
  alias               text NOT NULL,
  path                text NOT NULL DEFAULT '/',
  status              text NOT NULL CHECK (status IN ('IN_QUEUE', 'IN_PROGRESS', 'COMPLETED')),
  payload             bytea NOT NULL,
  content_type        text NOT NULL DEFAULT 'application/json',
  caller              text,
  webhook_url         text,
  no_retry            boolean NOT NULL DEFAULT false,
  start_deadline      timestamptz,
  attempts            integer NOT NULL DEFAULT 0,
  excluded_runners    jsonb NOT NULL DEFAULT '[]',
  lease_owner         text,
  lease_expires_at    timestamptz,
  runner_id           text,
  cancel_requested    boolean NOT NULL DEFAULT false,
  result_status       integer,
  result_body         bytea,
  result_content_type text,
  error               text,
  error_type          text,
  logs                jsonb NOT NULL DEFAULT '[]',
  created_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  completed_at        timestamptz,
  webhook_state       text,
  webhook_attempts    integer NOT NULL DEFAULT 0,
  webhook_next_at     timestamptz
);
CREATE INDEX requests_waiting ON requests (app_id, created_at) WHERE status = 'IN_QUEUE';
CREATE INDEX requests_leased ON requests (lease_expires_at) WHERE status = 'IN_PROGRESS';
CREATE INDEX requests_webhooks ON requests (webhook_next_at) WHERE webhook_state = 'pending'
`,
  },
  {
    id: 3,
    name: "secrets and usage",
    sql: `
CREATE TABLE secrets (
  owner       text NOT NULL,
  environment text NOT NULL,
  name        text NOT NULL,
  value       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, environment, name),
  FOREIGN KEY (owner, environment) REFERENCES environments (owner, name) ON DELETE CASCADE
);
CREATE TABLE usage (
  app_id  text NOT NULL,
  caller  text NOT NULL,
  calls   bigint NOT NULL DEFAULT 0,
  last_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, caller)
);
CREATE INDEX revisions_code ON revisions (app_id, code_hash)
`,
  },
  {
    id: 4,
    name: "environment builds",
    sql: `
CREATE TABLE builds (
  id             text PRIMARY KEY,
  build_key      text NOT NULL,
  store          text NOT NULL,
  status         text NOT NULL CHECK (status IN ('BUILDING', 'READY', 'FAILED')),
  requirements   jsonb NOT NULL,
  python_version text NOT NULL,
  installer      text NOT NULL,
  dir            text NOT NULL,
  log            text NOT NULL DEFAULT '',
  error          text,
  size_bytes     bigint,
  no_cache       boolean NOT NULL DEFAULT false,
  owner          text NOT NULL,
  heartbeat_at   timestamptz NOT NULL DEFAULT now(),
  created_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz
);
CREATE UNIQUE INDEX builds_one_running ON builds (build_key, store) WHERE status = 'BUILDING';
CREATE INDEX builds_by_key ON builds (build_key, store, created_at);
ALTER TABLE revisions ADD COLUMN build_id text;
ALTER TABLE revisions ADD COLUMN build_key text;
ALTER TABLE revisions DROP CONSTRAINT revisions_status_check;
ALTER TABLE revisions ADD CONSTRAINT revisions_status_check CHECK (status IN ('Building', 'Deploying', 'Deployed', 'Failed', 'Suspended'))
`,
  },
  {
    id: 5,
    name: "request bodies out of the row, quotas, retention",
    // Big bodies live in the payload store (store/payloadStore.ts); the row keeps a ref and the size.
    // Sizes feed per-owner quotas; completed_at feeds retention.
    sql: `
ALTER TABLE requests ADD COLUMN payload_ref text;
ALTER TABLE requests ADD COLUMN payload_size bigint NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN result_ref text;
ALTER TABLE requests ADD COLUMN result_size bigint NOT NULL DEFAULT 0;
UPDATE requests SET payload_size = octet_length(payload), result_size = coalesce(octet_length(result_body), 0);
CREATE INDEX requests_owner ON requests (owner, status) INCLUDE (payload_size, result_size);
CREATE INDEX requests_completed ON requests (completed_at) WHERE status = 'COMPLETED';
CREATE TABLE request_payloads (
  id         text PRIMARY KEY,
  request_id text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('payload', 'result')),
  bytes      bytea NOT NULL,
  size       bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE request_payloads ALTER COLUMN bytes SET STORAGE EXTERNAL;
CREATE INDEX request_payloads_request ON request_payloads (request_id);
CREATE INDEX request_payloads_created ON request_payloads (created_at)
`,
  },
  {
    id: 6,
    name: "runner placement: why a runner waits, and its region",
    sql: `
ALTER TABLE runners ADD COLUMN reason text;
ALTER TABLE runners ADD COLUMN region text NOT NULL DEFAULT 'local'
`,
  },
  {
    id: 7,
    name: "storage uploads (fal.storage.upload)",
    sql: `
CREATE TABLE stored_files (
  id                text PRIMARY KEY,
  owner             text NOT NULL,
  file_name         text NOT NULL,
  content_type      text NOT NULL,
  upload_token_hash text NOT NULL,
  status            text NOT NULL CHECK (status IN ('pending', 'ready')),
  size              bigint NOT NULL DEFAULT 0,
  ref               text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  completed_at      timestamptz
);
CREATE INDEX stored_files_owner ON stored_files (owner);
CREATE INDEX stored_files_created ON stored_files (created_at)
`,
  },
];

const LOCK_ID = 7_412_001;

/** Applies the migrations this database lacks; returns the ids applied now. */
export async function migrate(db: Db): Promise<number[]> {
  return db.transaction(async (tx) => {
    // The lock comes first: concurrent CREATE TABLE IF NOT EXISTS on a new database can still collide.
    await tx.query("SELECT pg_advisory_xact_lock($1)", [LOCK_ID]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(
      (await tx.query<{ id: number }>("SELECT id FROM schema_migrations")).map((r) => r.id),
    );
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      for (const stmt of splitStatements(m.sql)) await tx.query(stmt);
      await tx.query("INSERT INTO schema_migrations (id, name) VALUES ($1, $2)", [m.id, m.name]);
      applied.push(m.id);
    }
    return applied;
  });
}

/** Splits a migration into statements (ours contain no semicolons inside literals). */
function splitStatements(sql: string): string[] {
  return sql
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
