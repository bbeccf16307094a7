/**
 * SQL the runner layer needs beyond repo.ts's runner rows: which apps hold
 * runners with no traffic (for the autoscaler's keep-warm) and which runners
 * a dead platform process of this host left behind (for start-up recovery).
 * Kept here so the autoscaler and start-up code hold no SQL.
 */
import type { Db, Queryable } from "./db";
import type { AppRow, RunnerRow } from "./repo";

/**
 * Apps with an active revision whose scaling holds runners with no traffic:
 * min_concurrency or concurrency_buffer above 0. A cheap filter only; how
 * many runners that is, is the autoscaler's call (autoscaler.warmRunners).
 */
export async function appsKeptWarm(q: Queryable): Promise<AppRow[]> {
  return q.query<AppRow>(
    `SELECT * FROM apps WHERE current_revision IS NOT NULL
        AND ((scaling->>'min_concurrency')::int > 0 OR (scaling->>'concurrency_buffer')::int > 0)`,
  );
}

export interface HostRunner {
  readonly id: string;
  /** `<hostname>:<pid>` of the platform process that started the runner. */
  readonly host: string;
  /** The runner's own process id (its process group), when it got that far. */
  readonly pid: number | null;
}

/** Runners not yet stopped that platform processes of this host (`<hostname>:*`) started. */
export async function unstoppedRunnersOnHost(q: Queryable, hostname: string): Promise<HostRunner[]> {
  return q.query<HostRunner>("SELECT id, host, pid FROM runners WHERE host LIKE $1 AND state NOT IN ('TERMINATED', 'DEAD')", [
    `${hostname}:%`,
  ]);
}

/**
 * How long a runner row counts without a heartbeat. Each process touches its
 * runners' rows every few seconds; a row older than this belongs to a process
 * that is gone (on another host, where start-up recovery cannot see it).
 */
export const RUNNER_ROW_FRESH_S = 30;


/**
 * Records a new runner of the app unless the app already has `limit` runners
 * in `activeStates` across all platform processes of the database (the
 * runner layer's ACTIVE_STATES, passed in so it is declared once); false then, and
 * nothing is written. The per-app advisory lock makes the count and the
 * insert one step for every process, so N processes never start N × limit.
 */
export async function reserveRunnerSlot(
  db: Db,
  row: Omit<RunnerRow, "started_at" | "updated_at">,
  limit: number,
  activeStates: readonly string[],
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(7412003, hashtext($1))", [row.app_id]);
    const [{ n }] = await tx.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM runners
        WHERE app_id = $1 AND state = ANY($3::text[]) AND updated_at > now() - make_interval(secs => $2)`,
      [row.app_id, RUNNER_ROW_FRESH_S, activeStates],
    );
    if (Number(n) >= limit) return false;
    await tx.query(
      `INSERT INTO runners (id, app_id, revision_id, state, machine_type, host, pid, port, error, reason, region)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
      [row.id, row.app_id, row.revision_id, row.state, row.machine_type, row.host, row.pid, row.port, row.error, row.reason, row.region],
    );
    return true;
  });
}

/** The heartbeat of a process's runners: their rows stay fresh while it runs them. */
export async function touchRunners(q: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query("UPDATE runners SET updated_at = now() WHERE id = ANY($1::text[])", [ids]);
}
