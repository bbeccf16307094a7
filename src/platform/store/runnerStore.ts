/**
 * SQL the runner layer needs beyond repo.ts's runner rows: which apps hold
 * runners with no traffic (for the autoscaler's keep-warm) and which runners
 * a dead platform process of this host left behind (for start-up recovery).
 * Kept here so the autoscaler and start-up code hold no SQL.
 */
import type { Queryable } from "./db";
import type { AppRow } from "./repo";

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
