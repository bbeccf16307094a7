/**
 * SQL of environment builds: one row per build of a build key on one
 * environment store (a directory on one host). At most one build of a key
 * runs per store at a time (a partial unique index), so concurrent deploys,
 * from one platform process or several on one PostgreSQL, join one build.
 */
import { randomUUID } from "node:crypto";
import type { Queryable } from "./db";
import type { z } from "zod";
import type { BuildStatus as BuildStatusSchema } from "../../contract/responses";

/** BUILDING, READY or FAILED: the contract's enum, so the store and the API cannot drift apart. */
export type BuildStatus = z.infer<typeof BuildStatusSchema>;

export interface BuildRow {
  id: string;
  build_key: string;
  store: string;
  status: BuildStatus;
  requirements: string[];
  python_version: string;
  installer: string;
  dir: string;
  log: string;
  error: string | null;
  size_bytes: number | null;
  no_cache: boolean;
  owner: string;
  heartbeat_at: Date;
  created_at: Date;
  finished_at: Date | null;
}

export interface NewBuild {
  readonly build_key: string;
  readonly store: string;
  readonly requirements: readonly string[];
  readonly python_version: string;
  readonly installer: string;
  /** Directory of the environment; the id is appended so two builds of a key never share one. */
  readonly dirPrefix: string;
  readonly no_cache: boolean;
  readonly owner: string;
}

/** Claims the build of a key: undefined when another build of it is running on this store. */
export async function claimBuild(q: Queryable, b: NewBuild): Promise<BuildRow | undefined> {
  const id = randomUUID();
  const rows = await q.query<BuildRow>(
    `INSERT INTO builds (id, build_key, store, status, requirements, python_version, installer, dir, no_cache, owner)
     VALUES ($1, $2, $3, 'BUILDING', $4, $5, $6, $7, $8, $9)
     ON CONFLICT DO NOTHING RETURNING *`,
    [id, b.build_key, b.store, JSON.stringify(b.requirements), b.python_version, b.installer, `${b.dirPrefix}-${id.slice(0, 8)}`, b.no_cache, b.owner],
  );
  return rows[0] ? normalise(rows[0]) : undefined;
}

export async function getBuild(q: Queryable, id: string): Promise<BuildRow | undefined> {
  const rows = await q.query<BuildRow>("SELECT * FROM builds WHERE id = $1", [id]);
  return rows[0] ? normalise(rows[0]) : undefined;
}

/** The newest ready build of a key on a store, and the running one if any. */
export async function buildsOfKey(q: Queryable, key: string, store: string): Promise<{ ready?: BuildRow; building?: BuildRow }> {
  const rows = await q.query<BuildRow>(
    `SELECT * FROM builds WHERE build_key = $1 AND store = $2 AND status IN ('READY', 'BUILDING')
     ORDER BY created_at DESC`,
    [key, store],
  );
  const all = rows.map(normalise);
  return { ready: all.find((r) => r.status === "READY"), building: all.find((r) => r.status === "BUILDING") };
}

export async function appendBuildLog(q: Queryable, id: string, text: string): Promise<void> {
  await q.query("UPDATE builds SET log = log || $2, heartbeat_at = now() WHERE id = $1", [id, text]);
}

export async function heartbeatBuild(q: Queryable, id: string): Promise<void> {
  await q.query("UPDATE builds SET heartbeat_at = now() WHERE id = $1 AND status = 'BUILDING'", [id]);
}

/**
 * Ends a build and moves the revisions waiting for it: to Deploying when it
 * is ready, to Failed with the build's error when it is not.
 */
export async function finishBuild(
  q: Queryable,
  id: string,
  outcome: { status: "READY"; size_bytes: number } | { status: "FAILED"; error: string },
): Promise<void> {
  if (outcome.status === "READY") {
    await q.query("UPDATE builds SET status = 'READY', size_bytes = $2, finished_at = now() WHERE id = $1", [id, outcome.size_bytes]);
    await q.query("UPDATE revisions SET status = 'Deploying' WHERE build_id = $1 AND status = 'Building'", [id]);
  } else {
    await q.query("UPDATE builds SET status = 'FAILED', error = $2, finished_at = now() WHERE id = $1", [id, outcome.error]);
    await q.query(
      "UPDATE revisions SET status = 'Failed', error = $2 WHERE build_id = $1 AND status = 'Building'",
      [id, `environment build failed:\n${outcome.error}`],
    );
  }
}

/** Marks builds whose builder stopped heartbeating (its process died) failed; returns their ids. */
export async function failStaleBuilds(q: Queryable, store: string, staleMs: number): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    `SELECT id FROM builds WHERE store = $1 AND status = 'BUILDING'
       AND heartbeat_at < now() - ($2::double precision * interval '1 millisecond')`,
    [store, staleMs],
  );
  for (const r of rows) await finishBuild(q, r.id, { status: "FAILED", error: "the process running this build stopped before it finished" });
  return rows.map((r) => r.id);
}

/** Points a revision at the build of its environment; `building` marks it Building meanwhile. */
export async function setRevisionBuild(q: Queryable, revisionId: string, build: BuildRow): Promise<void> {
  await q.query(
    `UPDATE revisions SET build_id = $2, build_key = $3,
       status = CASE WHEN $4 THEN 'Building' WHEN status = 'Building' THEN 'Deploying' ELSE status END
     WHERE id = $1`,
    [revisionId, build.id, build.build_key, build.status === "BUILDING"],
  );
}

/** Whether an owner may see a build: one of its apps' revisions uses it. */
export async function buildVisibleTo(q: Queryable, id: string, owner: string): Promise<boolean> {
  const rows = await q.query(
    "SELECT 1 FROM revisions r JOIN apps a ON a.id = r.app_id WHERE r.build_id = $1 AND a.owner = $2 LIMIT 1",
    [id, owner],
  );
  return rows.length > 0;
}

/** Builds of an app's revisions, newest first. */
export async function buildsOfApp(q: Queryable, appId: string): Promise<Array<BuildRow & { revisions: string[] }>> {
  const rows = await q.query<BuildRow & { revisions: string[] }>(
    `SELECT b.*, array_agg(r.id ORDER BY r.created_at DESC) AS revisions
       FROM builds b JOIN revisions r ON r.build_id = b.id
      WHERE r.app_id = $1
      GROUP BY b.id ORDER BY b.created_at DESC`,
    [appId],
  );
  return rows.map((r) => ({ ...normalise(r), revisions: r.revisions }));
}

/**
 * Builds on a store that no revision uses and that ended more than graceMs
 * ago: the garbage collector removes their directories and rows.
 */
export async function unreferencedBuilds(q: Queryable, store: string, graceMs: number): Promise<BuildRow[]> {
  const rows = await q.query<BuildRow>(
    `SELECT * FROM builds b WHERE store = $1 AND status <> 'BUILDING'
        AND finished_at < now() - ($2::double precision * interval '1 millisecond')
        AND NOT EXISTS (SELECT 1 FROM revisions r WHERE r.build_id = b.id)`,
    [store, graceMs],
  );
  return rows.map(normalise);
}

export async function deleteBuild(q: Queryable, id: string): Promise<void> {
  await q.query("DELETE FROM builds WHERE id = $1", [id]);
}

/** Ready environments on a store and the disk they take. */
export async function buildUsage(q: Queryable, store: string): Promise<{ environments: number; bytes: number }> {
  const rows = await q.query<{ n: string | number; bytes: string | number | null }>(
    "SELECT count(*) AS n, sum(size_bytes) AS bytes FROM builds WHERE store = $1 AND status = 'READY'",
    [store],
  );
  return { environments: Number(rows[0]?.n ?? 0), bytes: Number(rows[0]?.bytes ?? 0) };
}

function normalise(r: BuildRow): BuildRow {
  return {
    ...r,
    requirements: typeof r.requirements === "string" ? JSON.parse(r.requirements) : r.requirements,
    size_bytes: r.size_bytes === null ? null : Number(r.size_bytes),
  };
}
