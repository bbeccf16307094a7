/**
 * Read-only SQL for the dashboard (src/platform/dashboard): recent requests of
 * an app, one request's logs, and its queue depth now. Never reads the body
 * columns (payload, result_body): the dashboard shows what happened to a
 * request, not what it carried.
 */
import type { Queryable } from "./db";
import type { QueueLog, RequestStatus } from "./queueStore";

export interface RecentRequestRow {
  id: string;
  path: string;
  status: RequestStatus;
  caller: string | null;
  attempts: number;
  runner_id: string | null;
  result_status: number | null;
  error: string | null;
  error_type: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  /** From submit to the start of the last attempt; null while waiting. */
  wait_ms: number | null;
  /** From the start of the last attempt to completion; null until completed. */
  run_ms: number | null;
  payload_size: number;
  result_size: number;
}

/** The newest `limit` requests of an app (of this owner), newest first. */
export async function recentRequests(q: Queryable, owner: string, appId: string, limit: number): Promise<RecentRequestRow[]> {
  return q.query<RecentRequestRow>(
    `SELECT id, path, status, caller, attempts, runner_id, result_status, error, error_type, created_at, started_at, completed_at,
            (extract(epoch FROM started_at - created_at) * 1000)::float8 AS wait_ms,
            (extract(epoch FROM completed_at - started_at) * 1000)::float8 AS run_ms,
            payload_size::float8 AS payload_size, result_size::float8 AS result_size
       FROM requests WHERE owner = $1 AND app_id = $2
      ORDER BY created_at DESC, id DESC LIMIT $3`,
    [owner, appId, limit],
  );
}

export interface RequestLogsRow {
  id: string;
  status: RequestStatus;
  runner_id: string | null;
  logs: QueueLog[];
}

/** One request's stored logs, if it is a request of this app and owner. */
export async function requestLogs(q: Queryable, owner: string, appId: string, id: string): Promise<RequestLogsRow | undefined> {
  const rows = await q.query<RequestLogsRow>("SELECT id, status, runner_id, logs FROM requests WHERE id = $1 AND owner = $2 AND app_id = $3", [
    id,
    owner,
    appId,
  ]);
  return rows[0];
}

/** Requests of an app waiting (IN_QUEUE) and being worked on (IN_PROGRESS) now. */
export async function queueDepth(q: Queryable, owner: string, appId: string): Promise<{ in_queue: number; in_progress: number }> {
  const rows = await q.query<{ status: RequestStatus; n: string }>(
    `SELECT status, count(*)::text AS n FROM requests
      WHERE owner = $1 AND app_id = $2 AND status IN ('IN_QUEUE', 'IN_PROGRESS') GROUP BY status`,
    [owner, appId],
  );
  const n = (s: RequestStatus) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { in_queue: n("IN_QUEUE"), in_progress: n("IN_PROGRESS") };
}

/** Queue depth of one app at a sample; apps with nothing waiting or in progress have no row. */
export interface DepthRow {
  app_id: string;
  in_queue: number;
  in_progress: number;
}

/** Latency (submit to completion) of one app's requests completed in a sample's interval. */
export interface LatencyRow {
  app_id: string;
  completed: number;
  p50_ms: number;
  p95_ms: number;
}

/**
 * One sample of every app at once (src/platform/dashboard/metricsHistory.ts):
 * the database's clock now, queue depth per app, and p50/p95 of the
 * submit-to-completion time of requests completed after `since` and up to
 * `settleMs` before now (`until`, the next sample's `since`; the lag lets a
 * completion whose transaction began before this sample but commits after it
 * count in the next one instead of never). The first sample (`since` null)
 * looks back `firstWindowS` seconds. Uses the partial indexes on waiting,
 * leased and completed requests; never reads bodies.
 */
export async function sampleAllApps(
  q: Queryable,
  since: Date | null,
  settleMs: number,
  firstWindowS: number,
): Promise<{ at: Date; until: Date; depth: DepthRow[]; latency: LatencyRow[] }> {
  const [now] = await q.query<{ at: Date | string }>("SELECT now() AS at");
  const at = now.at instanceof Date ? now.at : new Date(now.at);
  const depth = await q.query<DepthRow>(
    `SELECT app_id, (count(*) FILTER (WHERE status = 'IN_QUEUE'))::int AS in_queue, (count(*) FILTER (WHERE status = 'IN_PROGRESS'))::int AS in_progress
       FROM requests WHERE status IN ('IN_QUEUE', 'IN_PROGRESS') GROUP BY app_id`,
  );
  const until = new Date(at.getTime() - settleMs);
  const from = since ?? new Date(until.getTime() - firstWindowS * 1000);
  const latency =
    from < until
      ? await q.query<LatencyRow>(
          `SELECT app_id, count(*)::int AS completed,
                  (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)) * 1000)::float8 AS p50_ms,
                  (percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)) * 1000)::float8 AS p95_ms
             FROM requests WHERE status = 'COMPLETED' AND completed_at > $1 AND completed_at <= $2 GROUP BY app_id`,
          [from, until],
        )
      : [];
  return { at, until: from < until ? until : from, depth, latency };
}
