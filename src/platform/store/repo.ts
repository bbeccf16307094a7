/**
 * Data access for the platform's objects. Plain functions over a Queryable so
 * they compose inside transactions. SQL only here.
 */
import { randomUUID } from "node:crypto";
import type { Queryable } from "./db";
import type { z } from "zod";
import type { AuthMode, CodeSettings, FileEntry, RuntimeScaling } from "../../model/catalog";
import type { RevisionStatus as RevisionStatusSchema } from "../../contract";
import type { Scope } from "../keys";

export interface KeyRow {
  key_id: string;
  secret_hash: string;
  scope: Scope;
  owner: string;
  alias: string;
  created_at: Date;
  revoked_at: Date | null;
}

export interface AppRow {
  id: string;
  owner: string;
  name: string;
  environment: string;
  auth_mode: AuthMode;
  scaling: RuntimeScaling;
  current_revision: string | null;
  is_rolling: boolean;
  created_at: Date;
  updated_at: Date;
}

/** Declared by the wire contract: the API shows it as it is stored. */
export type RevisionStatus = z.output<typeof RevisionStatusSchema>;

export interface RevisionRow {
  id: string;
  app_id: string;
  status: RevisionStatus;
  source_object: string;
  code_hash: string;
  files: Record<string, FileEntry>;
  code_settings: CodeSettings;
  scaling: RuntimeScaling;
  message: string;
  annotations: Record<string, string>;
  error: string | null;
  /** The build of the revision's Python environment (store/buildStore.ts); null before its first. */
  build_id: string | null;
  build_key: string | null;
  created_at: Date;
}

export interface RunnerRow {
  id: string;
  app_id: string;
  revision_id: string;
  state: string;
  machine_type: string;
  host: string;
  pid: number | null;
  port: number | null;
  error: string | null;
  /** Why a PENDING runner waits (capacity); null otherwise. */
  reason: string | null;
  /** Region of the platform process that runs it. */
  region: string;
  started_at: Date;
  updated_at: Date;
}

// ---- keys

export async function insertKey(
  q: Queryable,
  k: { keyId: string; secretHash: string; scope: Scope; owner: string; alias: string },
): Promise<void> {
  await q.query("INSERT INTO api_keys (key_id, secret_hash, scope, owner, alias) VALUES ($1,$2,$3,$4,$5)", [
    k.keyId,
    k.secretHash,
    k.scope,
    k.owner,
    k.alias,
  ]);
}

export async function getKey(q: Queryable, keyId: string): Promise<KeyRow | undefined> {
  return (await q.query<KeyRow>("SELECT * FROM api_keys WHERE key_id = $1", [keyId]))[0];
}

export async function listKeys(q: Queryable, owner: string): Promise<KeyRow[]> {
  return q.query<KeyRow>("SELECT * FROM api_keys WHERE owner = $1 AND revoked_at IS NULL ORDER BY created_at", [owner]);
}

/** Active ADMIN keys of an owner, taking a row lock on each (so two revocations cannot both leave none). */
export async function lockActiveAdminKeys(tx: Queryable, owner: string): Promise<string[]> {
  const rows = await tx.query<{ key_id: string }>(
    "SELECT key_id FROM api_keys WHERE owner = $1 AND scope = 'ADMIN' AND revoked_at IS NULL ORDER BY key_id FOR UPDATE",
    [owner],
  );
  return rows.map((r) => r.key_id);
}

export async function revokeKey(q: Queryable, owner: string, keyId: string): Promise<boolean> {
  const rows = await q.query(
    "UPDATE api_keys SET revoked_at = now() WHERE owner = $1 AND key_id = $2 AND revoked_at IS NULL RETURNING key_id",
    [owner, keyId],
  );
  return rows.length > 0;
}

/**
 * Serialises the first-key check of platform processes starting at once on one
 * database (held until the transaction ends), so only one creates the first key.
 */
export async function lockKeyBootstrap(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(7412002)");
}

export async function countKeys(q: Queryable): Promise<number> {
  const [r] = await q.query<{ n: string }>("SELECT count(*)::text AS n FROM api_keys");
  return Number(r.n);
}

// ---- environments

export async function ensureEnvironment(q: Queryable, owner: string, name: string): Promise<boolean> {
  const rows = await q.query(
    "INSERT INTO environments (owner, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING name",
    [owner, name],
  );
  return rows.length > 0;
}

export async function listEnvironments(q: Queryable, owner: string) {
  return q.query<{ name: string; created_at: Date; apps: string }>(
    `SELECT e.name, e.created_at, (SELECT count(*) FROM apps a WHERE a.owner = e.owner AND a.environment = e.name)::text AS apps
       FROM environments e WHERE e.owner = $1 ORDER BY e.name = 'main' DESC, e.name`,
    [owner],
  );
}

export async function getEnvironment(q: Queryable, owner: string, name: string) {
  return (await q.query<{ name: string }>("SELECT name FROM environments WHERE owner = $1 AND name = $2", [owner, name]))[0];
}

export async function deleteEnvironment(q: Queryable, owner: string, name: string): Promise<void> {
  await q.query("DELETE FROM apps WHERE owner = $1 AND environment = $2", [owner, name]);
  await q.query("DELETE FROM environments WHERE owner = $1 AND name = $2", [owner, name]);
}

// ---- apps

export async function getApp(q: Queryable, owner: string, name: string, env: string): Promise<AppRow | undefined> {
  return (
    await q.query<AppRow>("SELECT * FROM apps WHERE owner = $1 AND name = $2 AND environment = $3", [owner, name, env])
  )[0];
}

export async function getAppById(q: Queryable, id: string): Promise<AppRow | undefined> {
  return (await q.query<AppRow>("SELECT * FROM apps WHERE id = $1", [id]))[0];
}

export async function lockApp(q: Queryable, id: string): Promise<AppRow | undefined> {
  return (await q.query<AppRow>("SELECT * FROM apps WHERE id = $1 FOR UPDATE", [id]))[0];
}

export async function listApps(q: Queryable, owner: string, env?: string): Promise<AppRow[]> {
  if (env) return q.query<AppRow>("SELECT * FROM apps WHERE owner = $1 AND environment = $2 ORDER BY name", [owner, env]);
  return q.query<AppRow>("SELECT * FROM apps WHERE owner = $1 ORDER BY environment, name", [owner]);
}

export async function insertApp(
  q: Queryable,
  a: { owner: string; name: string; environment: string; auth_mode: AuthMode; scaling: RuntimeScaling },
): Promise<AppRow> {
  const rows = await q.query<AppRow>(
    `INSERT INTO apps (id, owner, name, environment, auth_mode, scaling) VALUES ($1,$2,$3,$4,$5,$6)
     ON CONFLICT (owner, name, environment) DO NOTHING RETURNING *`,
    [randomUUID(), a.owner, a.name, a.environment, a.auth_mode, JSON.stringify(a.scaling)],
  );
  return rows[0] ?? (await getApp(q, a.owner, a.name, a.environment))!;
}

export async function updateApp(
  q: Queryable,
  id: string,
  patch: Partial<Pick<AppRow, "auth_mode" | "scaling" | "current_revision" | "is_rolling">>,
): Promise<AppRow> {
  const sets: string[] = [];
  const params: unknown[] = [id];
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    params.push(k === "scaling" ? JSON.stringify(v) : v);
    sets.push(`${k} = $${params.length}`);
  }
  sets.push("updated_at = now()");
  const rows = await q.query<AppRow>(`UPDATE apps SET ${sets.join(", ")} WHERE id = $1 RETURNING *`, params);
  return rows[0];
}

export async function deleteApp(q: Queryable, id: string): Promise<void> {
  await q.query("DELETE FROM apps WHERE id = $1", [id]);
}

// ---- revisions

export async function insertRevision(
  q: Queryable,
  r: Omit<RevisionRow, "id" | "created_at" | "error" | "status" | "build_id" | "build_key">,
): Promise<RevisionRow> {
  const rows = await q.query<RevisionRow>(
    `INSERT INTO revisions (id, app_id, status, source_object, code_hash, files, code_settings, scaling, message, annotations)
     VALUES ($1,$2,'Deploying',$3,$4,$5,$6,$7,$8,$9) RETURNING *`,
    [
      randomUUID(),
      r.app_id,
      r.source_object,
      r.code_hash,
      JSON.stringify(r.files),
      JSON.stringify(r.code_settings),
      JSON.stringify(r.scaling),
      r.message,
      JSON.stringify(r.annotations),
    ],
  );
  return rows[0];
}

export async function getRevision(q: Queryable, id: string): Promise<RevisionRow | undefined> {
  return (await q.query<RevisionRow>("SELECT * FROM revisions WHERE id = $1", [id]))[0];
}

export async function listRevisions(q: Queryable, appId: string): Promise<RevisionRow[]> {
  return q.query<RevisionRow>("SELECT * FROM revisions WHERE app_id = $1 ORDER BY created_at DESC, id", [appId]);
}

export async function setRevisionStatus(
  q: Queryable,
  id: string,
  status: RevisionStatus,
  error: string | null = null,
): Promise<void> {
  await q.query("UPDATE revisions SET status = $2, error = $3 WHERE id = $1", [id, status, error]);
}

export async function deleteRevision(q: Queryable, id: string): Promise<void> {
  await q.query("DELETE FROM revisions WHERE id = $1", [id]);
}

// ---- blobs

export async function missingBlobs(q: Queryable, hashes: readonly string[]): Promise<string[]> {
  if (hashes.length === 0) return [];
  const have = await q.query<{ hash: string }>("SELECT hash FROM blobs WHERE hash = ANY($1::text[])", [hashes]);
  const haveSet = new Set(have.map((r) => r.hash));
  return [...new Set(hashes)].filter((h) => !haveSet.has(h));
}

export async function putBlob(q: Queryable, hash: string, content: Buffer): Promise<void> {
  await q.query("INSERT INTO blobs (hash, content) VALUES ($1, $2) ON CONFLICT DO NOTHING", [hash, content]);
}

export async function getBlob(q: Queryable, hash: string): Promise<Buffer | undefined> {
  const rows = await q.query<{ content: Uint8Array }>("SELECT content FROM blobs WHERE hash = $1", [hash]);
  return rows[0] ? Buffer.from(rows[0].content) : undefined;
}

// ---- runners

export async function upsertRunner(q: Queryable, r: Omit<RunnerRow, "started_at" | "updated_at">): Promise<void> {
  await q.query(
    `INSERT INTO runners (id, app_id, revision_id, state, machine_type, host, pid, port, error, reason, region)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
     ON CONFLICT (id) DO UPDATE SET state = $4, pid = $7, port = $8, error = $9, reason = $10, updated_at = now()`,
    [r.id, r.app_id, r.revision_id, r.state, r.machine_type, r.host, r.pid, r.port, r.error, r.reason, r.region],
  );
}

export async function listRunners(q: Queryable, appId: string, includeTerminated = false): Promise<RunnerRow[]> {
  return q.query<RunnerRow>(
    `SELECT * FROM runners WHERE app_id = $1 ${includeTerminated ? "" : "AND state NOT IN ('TERMINATED', 'DEAD')"}
     ORDER BY started_at`,
    [appId],
  );
}

export async function upsertRunnerState(q: Queryable, id: string, state: string, error: string | null): Promise<void> {
  await q.query("UPDATE runners SET state = $2, error = $3, updated_at = now() WHERE id = $1", [id, state, error]);
}

// ---- secrets (per owner and environment; values never leave the platform except into runners)

export async function listSecretNames(q: Queryable, owner: string, env: string) {
  return q.query<{ name: string; updated_at: Date }>(
    "SELECT name, updated_at FROM secrets WHERE owner = $1 AND environment = $2 ORDER BY name",
    [owner, env],
  );
}

export async function setSecret(q: Queryable, owner: string, env: string, name: string, value: string): Promise<void> {
  await q.query(
    `INSERT INTO secrets (owner, environment, name, value) VALUES ($1,$2,$3,$4)
     ON CONFLICT (owner, environment, name) DO UPDATE SET value = $4, updated_at = now()`,
    [owner, env, name, value],
  );
}

export async function unsetSecret(q: Queryable, owner: string, env: string, name: string): Promise<boolean> {
  const rows = await q.query("DELETE FROM secrets WHERE owner = $1 AND environment = $2 AND name = $3 RETURNING name", [owner, env, name]);
  return rows.length > 0;
}

export async function secretValues(q: Queryable, owner: string, env: string): Promise<Record<string, string>> {
  const rows = await q.query<{ name: string; value: string }>("SELECT name, value FROM secrets WHERE owner = $1 AND environment = $2", [owner, env]);
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

// ---- usage of apps by caller key

export async function addUsage(q: Queryable, appId: string, caller: string, calls: number): Promise<void> {
  await q.query(
    `INSERT INTO usage (app_id, caller, calls) VALUES ($1,$2,$3)
     ON CONFLICT (app_id, caller) DO UPDATE SET calls = usage.calls + $3, last_at = now()`,
    [appId, caller, calls],
  );
}

export async function listUsage(q: Queryable, appId: string) {
  return q.query<{ caller: string; calls: string; last_at: Date }>(
    "SELECT caller, calls::text AS calls, last_at FROM usage WHERE app_id = $1 ORDER BY calls DESC, caller",
    [appId],
  );
}

export async function findRevisionByCode(q: Queryable, appId: string, codeHash: string): Promise<RevisionRow | undefined> {
  return (
    await q.query<RevisionRow>(
      "SELECT * FROM revisions WHERE app_id = $1 AND code_hash = $2 AND status <> 'Failed' ORDER BY created_at DESC LIMIT 1",
      [appId, codeHash],
    )
  )[0];
}
