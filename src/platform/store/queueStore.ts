/**
 * The persistent request queue: SQL only. A request row is written before the
 * caller gets its 2xx, so it survives a crash of the process that accepted
 * it. Processes claim work with FOR UPDATE SKIP LOCKED and hold it under a
 * lease they renew; an expired lease puts the request back in the queue.
 */
import { randomUUID } from "node:crypto";
import type { Db, Queryable } from "./db";
import type { StoredBody } from "./payloadStore";
import type { AppRow } from "./repo";

export type RequestStatus = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED";

export interface RequestRow {
  id: string;
  app_id: string;
  owner: string;
  alias: string;
  path: string;
  status: RequestStatus;
  payload: Uint8Array;
  content_type: string;
  caller: string | null;
  webhook_url: string | null;
  no_retry: boolean;
  start_deadline: Date | null;
  attempts: number;
  excluded_runners: string[];
  lease_owner: string | null;
  lease_expires_at: Date | null;
  runner_id: string | null;
  cancel_requested: boolean;
  result_status: number | null;
  result_body: Uint8Array | null;
  result_content_type: string | null;
  /** Set when the payload lives in the payload store (then `payload` is empty). */
  payload_ref: string | null;
  payload_size: number;
  result_ref: string | null;
  result_size: number;
  error: string | null;
  error_type: string | null;
  logs: QueueLog[];
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  webhook_state: string | null;
  webhook_attempts: number;
  webhook_next_at: Date | null;
}

export interface QueueLog {
  message: string;
  level: string;
  source: string;
  timestamp: string;
}

export interface NewRequest {
  id: string;
  appId: string;
  owner: string;
  alias: string;
  path: string;
  /** Inline when small, else a ref from the payload store (written first). */
  payload: StoredBody;
  contentType: string;
  caller: string | null;
  webhookUrl: string | null;
  noRetry: boolean;
  startTimeoutS: number | null;
}

/**
 * Work-queued notices. A request put in the queue (submitted, or put back for
 * a retry) is announced at once to the dispatcher of this process (onQueued,
 * a direct call: no database round trip) and, on PostgreSQL, to the other
 * platform processes of the database with NOTIFY on QUEUE_CHANNEL (payload
 * `<sender token>:<app id>`; the dispatchers LISTEN, see Db.listen). Notices
 * are only a wake-up: a lost one costs latency, never a request, because
 * the dispatchers still poll the queue as a safety net.
 */
export const QUEUE_CHANNEL = "falplane_queue";

interface LocalNotices {
  /** Tells this process's own notices from other processes' (it already heard them directly). */
  readonly token: string;
  readonly listeners: Set<(appId: string) => void>;
  claimer?: (appId: string) => DirectClaim | undefined;
}

/**
 * A free runner of this process offered to a request being submitted: the
 * insert then stores the request already claimed for it (IN_PROGRESS, under
 * this process's lease, attempt 1), in the same statement, when nothing of
 * the app waits before it and the runner's revision is the app's current one;
 * else the request is queued as usual and the offer declined.
 */
export interface DirectClaim {
  readonly runnerId: string;
  readonly revisionId: string;
  readonly owner: string;
  readonly leaseMs: number;
  /** The request is stored claimed: send it. */
  claimed(row: ClaimedRequest & { app: ClaimedApp }): void;
  /** Stored as waiting (or not stored): give the runner back. */
  declined(): void;
}
const localNotices = new WeakMap<Queryable, LocalNotices>();

function noticesOf(db: Queryable): LocalNotices {
  let n = localNotices.get(db);
  if (!n) {
    n = { token: randomUUID(), listeners: new Set() };
    localNotices.set(db, n);
  }
  return n;
}

/** Calls fn with the app id of each request this process puts in the queue through `db`; returns the unsubscribe. */
export function onQueued(db: Queryable, fn: (appId: string) => void): () => void {
  const n = noticesOf(db);
  n.listeners.add(fn);
  return () => n.listeners.delete(fn);
}

/** Lets this process's dispatcher claim a request in the statement that stores it (see DirectClaim); returns the undo. */
export function setDirectClaimer(db: Queryable, fn: (appId: string) => DirectClaim | undefined): () => void {
  const n = noticesOf(db);
  n.claimer = fn;
  return () => {
    if (n.claimer === fn) n.claimer = undefined;
  };
}

/** The app id of a NOTIFY payload on QUEUE_CHANNEL, or undefined when this process sent it through `db` (already heard). */
export function queuedNotice(db: Queryable, payload: string): string | undefined {
  const i = payload.indexOf(":");
  if (i < 0) return payload || undefined;
  if (payload.slice(0, i) === noticesOf(db).token) return undefined;
  return payload.slice(i + 1) || undefined;
}

const isPostgres = (q: Queryable) => (q as Partial<Db>).kind === "postgres";

function announce(q: Queryable, appIds: readonly string[]): void {
  const n = localNotices.get(q);
  if (!n) return;
  for (const appId of new Set(appIds)) {
    for (const fn of n.listeners) {
      try {
        fn(appId);
      } catch {
        // A listener's failure is its own; the request is stored.
      }
    }
  }
}

/**
 * Request-change notices, in this process: a request claimed, completed or
 * put back in the queue by a statement of this process through `db` calls
 * the watchers of that request (own = true) and of its app (own = false: a
 * waiting request's queue position may have moved). The status stream waits
 * on them instead of polling; a change made by another process on the same
 * PostgreSQL sends none, so watchers still poll for those.
 */
export type RequestWatcher = (own: boolean) => void;

interface Watchers {
  readonly byRequest: Map<string, Set<RequestWatcher>>;
  readonly byApp: Map<string, Set<RequestWatcher>>;
}
const watchers = new WeakMap<Queryable, Watchers>();

function addTo(map: Map<string, Set<RequestWatcher>>, key: string, fn: RequestWatcher): () => void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(fn);
  return () => {
    set.delete(fn);
    if (set.size === 0 && map.get(key) === set) map.delete(key);
  };
}

/** Calls fn on each change this process makes to request `id` (own) or to another request of its app; returns the unsubscribe. */
export function watchRequest(db: Queryable, id: string, appId: string, fn: RequestWatcher): () => void {
  let w = watchers.get(db);
  if (!w) watchers.set(db, (w = { byRequest: new Map(), byApp: new Map() }));
  const offRequest = addTo(w.byRequest, id, fn);
  const offApp = addTo(w.byApp, appId, fn);
  return () => {
    offRequest();
    offApp();
  };
}

function changed(q: Queryable, rows: readonly { id: string; app_id: string }[]): void {
  const w = watchers.get(q);
  if (!w || rows.length === 0) return;
  // On a later tick: a woken watcher's query must not go before the runner write of
  // a claim made by this statement (PGlite runs queries on this thread).
  setImmediate(() => {
    for (const r of rows) {
      for (const fn of w.byRequest.get(r.id) ?? []) safely(fn, true);
      for (const fn of w.byApp.get(r.app_id) ?? []) safely(fn, false);
    }
  });
}

function safely(fn: RequestWatcher, own: boolean): void {
  try {
    fn(own);
  } catch {
    // A watcher's failure is its own.
  }
}

/** NOTIFY the other processes (PostgreSQL only; delivered when the statement's transaction commits). */
async function notifyOthers(q: Queryable, appIds: readonly string[]): Promise<void> {
  if (!isPostgres(q) || appIds.length === 0) return;
  await q
    .query("SELECT pg_notify($1, $2 || ':' || a) FROM unnest($3::text[]) AS a", [QUEUE_CHANNEL, noticesOf(q).token, [...new Set(appIds)]])
    .catch(() => undefined); // Only a wake-up: the others' polling still finds the request.
}

/**
 * Where a stored request went: claimed in its insert by a runner of this
 * process (IN_PROGRESS, nothing of its app waited before it: position 0), or
 * queued behind `queuePosition` waiting requests of its app (counted by the
 * insert itself, in the snapshot it inserted in).
 */
export interface Inserted {
  readonly status: "IN_QUEUE" | "IN_PROGRESS";
  readonly queuePosition: number;
}

export async function insertRequest(q: Queryable, r: NewRequest): Promise<Inserted> {
  // A request with a start deadline already passed is queued (and answered 504 by maintenance), never sent.
  const offer = r.startTimeoutS === null || r.startTimeoutS > 0 ? localNotices.get(q)?.claimer?.(r.appId) : undefined;
  if (offer) {
    let out: { row?: ClaimedRequest & { app: ClaimedApp }; ahead: number };
    try {
      out = await insertClaimed(q, r, offer);
    } catch (err) {
      offer.declined();
      throw err;
    }
    if (out.row) {
      offer.claimed(out.row);
      // Let the request reach the runner's socket (a later tick) before the caller's next query:
      // on PGlite a query runs on this thread and would go first.
      await new Promise((res) => setImmediate(res));
      return { status: "IN_PROGRESS", queuePosition: 0 };
    }
    offer.declined();
    await notifyOthers(q, [r.appId]);
    announce(q, [r.appId]);
    return { status: "IN_QUEUE", queuePosition: out.ahead };
  }
  // RETURNING's subquery reads the statement's snapshot, without the new row: the waiting requests ahead of it.
  const insert = `INSERT INTO requests (id, app_id, owner, alias, path, status, payload, content_type, caller, webhook_url, no_retry, start_deadline,
                           payload_ref, payload_size)
     VALUES ($1,$2,$3,$4,$5,'IN_QUEUE',$6,$7,$8,$9,$10, CASE WHEN $11::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $11::float8) END,
             $12, $13)
     RETURNING app_id, (SELECT count(*) FROM requests w WHERE w.app_id = $2 AND w.status = 'IN_QUEUE')::float8 AS ahead`;
  const params = [r.id, r.appId, r.owner, r.alias, r.path, r.payload.inline, r.contentType, r.caller, r.webhookUrl, r.noRetry, r.startTimeoutS, r.payload.ref, r.payload.size];
  let rows: { ahead: number }[];
  if (isPostgres(q)) {
    // The NOTIFY rides on the insert's own statement (one round trip) and is delivered when it commits.
    rows = await q.query<{ ahead: number }>(
      `WITH ins AS (${insert}) SELECT pg_notify($14, $15 || ':' || app_id), ahead FROM ins`,
      [...params, QUEUE_CHANNEL, noticesOf(q).token],
      "falplane_insert_notify",
    );
  } else {
    rows = await q.query<{ ahead: number }>(insert, params, "falplane_insert");
  }
  announce(q, [r.appId]);
  return { status: "IN_QUEUE", queuePosition: Number(rows[0]?.ahead ?? 0) };
}

/**
 * Inserts the request claimed for offer's runner when it may be (see
 * DirectClaim), and returns it as claimed; else as waiting, with the number
 * of waiting requests ahead of it (counted only then).
 */
async function insertClaimed(q: Queryable, r: NewRequest, offer: DirectClaim): Promise<{ row?: ClaimedRequest & { app: ClaimedApp }; ahead: number }> {
  const rows = await q.query<{ status: RequestStatus; created_at: Date; attempts: number; ahead: number; app_name: string | null; app_environment: string | null; app_scaling: AppRow["scaling"] | null }>(
    `WITH cur AS (SELECT name, environment, scaling FROM apps WHERE id = $2 AND current_revision = $14),
          waiting AS (SELECT EXISTS (SELECT 1 FROM requests WHERE app_id = $2 AND status = 'IN_QUEUE') AS queued),
          ok AS (SELECT EXISTS (SELECT 1 FROM cur) AND NOT waiting.queued AS ok, waiting.queued FROM waiting),
          ins AS (
       INSERT INTO requests (id, app_id, owner, alias, path, status, payload, content_type, caller, webhook_url, no_retry, start_deadline,
                             payload_ref, payload_size, lease_owner, runner_id, attempts, lease_expires_at, started_at)
       SELECT $1,$2,$3,$4,$5, CASE WHEN ok.ok THEN 'IN_PROGRESS' ELSE 'IN_QUEUE' END, $6,$7,$8,$9,$10,
              CASE WHEN $11::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $11::float8) END, $12, $13,
              CASE WHEN ok.ok THEN $15 END, CASE WHEN ok.ok THEN $16 END, CASE WHEN ok.ok THEN 1 ELSE 0 END,
              CASE WHEN ok.ok THEN now() + make_interval(secs => $17::float8 / 1000) END, CASE WHEN ok.ok THEN now() END
         FROM ok
       RETURNING status, created_at, attempts)
     SELECT ins.status, ins.created_at, ins.attempts, cur.name AS app_name, cur.environment AS app_environment, cur.scaling AS app_scaling,
            CASE WHEN (SELECT queued FROM ok) THEN (SELECT count(*) FROM requests WHERE app_id = $2 AND status = 'IN_QUEUE') ELSE 0 END::float8 AS ahead
       FROM ins LEFT JOIN cur ON true`,
    [r.id, r.appId, r.owner, r.alias, r.path, r.payload.inline, r.contentType, r.caller, r.webhookUrl, r.noRetry, r.startTimeoutS, r.payload.ref, r.payload.size,
     offer.revisionId, offer.owner, offer.runnerId, offer.leaseMs],
    "falplane_insert_claimed",
  );
  const row = rows[0];
  if (!row) return { ahead: 0 };
  if (row.status !== "IN_PROGRESS" || row.app_name === null) return { ahead: Number(row.ahead) };
  return {
    ahead: 0,
    row: {
      id: r.id,
      app_id: r.appId,
      owner: r.owner,
      alias: r.alias,
      path: r.path,
      payload: r.payload.inline,
      payload_ref: r.payload.ref,
      content_type: r.contentType,
      caller: r.caller,
      no_retry: r.noRetry,
      attempts: row.attempts,
      created_at: row.created_at,
      app: { name: row.app_name, environment: row.app_environment ?? "", scaling: row.app_scaling! },
    },
  };
}

/** The whole row, bodies included: for tests and tools, never for a hot path. */
export async function getRequest(q: Queryable, id: string): Promise<RequestRow | undefined> {
  return (await q.query<RequestRow>("SELECT * FROM requests WHERE id = $1", [id]))[0];
}

/** What a status poll needs, and no body bytes: polls must stay cheap however big the request. */
export interface RequestStatusRow {
  id: string;
  app_id: string;
  owner: string;
  status: RequestStatus;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  result_status: number | null;
  result_content_type: string | null;
  error: string | null;
  error_type: string | null;
  logs: QueueLog[];
  payload_size: number;
  result_size: number;
}

const STATUS_COLUMNS = `id, app_id, owner, status, created_at, started_at, completed_at, result_status, result_content_type,
  error, error_type, logs, payload_size::float8 AS payload_size, result_size::float8 AS result_size`;

export async function getRequestStatus(q: Queryable, id: string): Promise<RequestStatusRow | undefined> {
  return (await q.query<RequestStatusRow>(`SELECT ${STATUS_COLUMNS} FROM requests WHERE id = $1`, [id], "falplane_request_status"))[0];
}

/** The stored result of a request: inline bytes or a payload-store ref. */
export async function getResultBody(q: Queryable, id: string): Promise<{ result_body: Uint8Array | null; result_ref: string | null } | undefined> {
  return (await q.query<{ result_body: Uint8Array | null; result_ref: string | null }>("SELECT result_body, result_ref FROM requests WHERE id = $1", [id], "falplane_result_body"))[0];
}

/** Requests ahead of this one in its app's queue. */
export async function queuePosition(q: Queryable, r: Pick<RequestRow, "app_id" | "created_at" | "id">): Promise<number> {
  const [row] = await q.query<{ n: string }>(
    "SELECT count(*)::text AS n FROM requests WHERE app_id = $1 AND status = 'IN_QUEUE' AND (created_at, id) < ($2, $3)",
    [r.app_id, r.created_at, r.id],
  );
  return Number(row.n);
}

/** Apps with waiting requests: how many wait and how long the oldest has waited. */
export async function waitingByApp(q: Queryable): Promise<{ app_id: string; queued: number; oldest_wait_ms: number }[]> {
  const rows = await q.query<{ app_id: string; queued: string; oldest_wait_ms: string }>(
    `SELECT app_id, count(*)::text AS queued,
            (extract(epoch FROM now() - min(created_at)) * 1000)::bigint::text AS oldest_wait_ms
       FROM requests WHERE status = 'IN_QUEUE' GROUP BY app_id`,
  );
  return rows.map((r) => ({ app_id: r.app_id, queued: Number(r.queued), oldest_wait_ms: Number(r.oldest_wait_ms) }));
}

/** Ids of up to `limit` waiting requests of an app (to fail them when the app can no longer serve). */
export async function waitingIds(q: Queryable, appId: string, limit: number): Promise<string[]> {
  const rows = await q.query<{ id: string }>("SELECT id FROM requests WHERE app_id = $1 AND status = 'IN_QUEUE' LIMIT $2", [appId, limit]);
  return rows.map((r) => r.id);
}

/** A claimed request as the dispatcher needs it: the payload is inline (small) or a ref, never a big body. */
export type ClaimedRequest = Pick<
  RequestRow,
  "id" | "app_id" | "owner" | "alias" | "path" | "payload" | "payload_ref" | "content_type" | "caller" | "no_retry" | "attempts" | "created_at"
>;

/** What the dispatcher needs of the claimed request's app, read by the claim itself. */
export interface ClaimedApp {
  readonly name: string;
  readonly environment: string;
  readonly scaling: AppRow["scaling"];
}

/**
 * Claims the oldest waiting request of an app that has not already failed on
 * this runner, under a lease of leaseMs for this process; only while the
 * runner's revision is still the app's current one (else nothing is claimed).
 * One statement: the dispatcher's fast path (a submit, a freed runner) needs
 * no other query before it sends the request.
 */
export async function claimNext(
  q: Queryable,
  appId: string,
  revisionId: string,
  runnerId: string,
  owner: string,
  leaseMs: number,
): Promise<(ClaimedRequest & { app: ClaimedApp }) | undefined> {
  const rows = await q.query<ClaimedRequest & { app_name: string; app_environment: string; app_scaling: AppRow["scaling"] }>(
    `UPDATE requests SET status = 'IN_PROGRESS', lease_owner = $3, runner_id = $2, attempts = requests.attempts + 1,
            lease_expires_at = now() + make_interval(secs => $4::float8 / 1000), started_at = coalesce(requests.started_at, now())
       FROM apps a
      WHERE requests.id = (
        SELECT id FROM requests
         WHERE app_id = $1 AND status = 'IN_QUEUE' AND NOT (excluded_runners ? $2)
           AND (start_deadline IS NULL OR start_deadline > now())
         ORDER BY created_at, id
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
        AND a.id = $1 AND a.current_revision = $5
      RETURNING requests.id, requests.app_id, requests.owner, requests.alias, requests.path, requests.payload, requests.payload_ref,
                requests.content_type, requests.caller, requests.no_retry, requests.attempts, requests.created_at,
                a.name AS app_name, a.environment AS app_environment, a.scaling AS app_scaling`,
    [appId, runnerId, owner, leaseMs, revisionId],
    "falplane_claim_next",
  );
  const r = rows[0];
  if (!r) return undefined;
  changed(q, [r]);
  const { app_name, app_environment, app_scaling, ...row } = r;
  return { ...row, app: { name: app_name, environment: app_environment, scaling: app_scaling } };
}

/** Renews this process's leases; returns the ids whose cancellation was asked for. */
export async function renewLeases(q: Queryable, owner: string, ids: string[], leaseMs: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await q.query<{ id: string; cancel_requested: boolean }>(
    `UPDATE requests SET lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
      WHERE id = ANY($2::text[]) AND lease_owner = $1 AND status = 'IN_PROGRESS'
      RETURNING id, cancel_requested`,
    [owner, ids, leaseMs],
  );
  return rows.filter((r) => r.cancel_requested).map((r) => r.id);
}

export interface Completion {
  status: number;
  /** Inline when small, else a ref from the payload store (written first). */
  body: StoredBody;
  contentType: string;
  error?: string;
  errorType?: string;
  logs: QueueLog[];
}

/** Completes a request this process holds. False when the lease was lost meanwhile. */
export async function complete(q: Queryable, id: string, owner: string, c: Completion): Promise<boolean> {
  const rows = await q.query(
    `UPDATE requests SET status = 'COMPLETED', completed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
            result_status = $3, result_body = $4, result_content_type = $5, error = $6, error_type = $7,
            logs = logs || $8::jsonb, result_ref = $9, result_size = $10,
            webhook_state = CASE WHEN webhook_url IS NULL THEN NULL ELSE 'pending' END,
            webhook_next_at = CASE WHEN webhook_url IS NULL THEN NULL ELSE now() END
      WHERE id = $1 AND lease_owner = $2 AND status = 'IN_PROGRESS' RETURNING id, app_id`,
    [id, owner, c.status, c.body.inline, c.contentType, c.error ?? null, c.errorType ?? null, JSON.stringify(c.logs), c.body.ref, c.body.size],
    "falplane_complete",
  );
  changed(q, rows as { id: string; app_id: string }[]);
  return rows.length > 0;
}

/** Completes a request no process holds (cancelled while queued, start timeout, app gone). */
export async function completeWaiting(q: Queryable, id: string, c: Omit<Completion, "logs">): Promise<boolean> {
  const rows = await q.query(
    `UPDATE requests SET status = 'COMPLETED', completed_at = now(),
            result_status = $2, result_body = $3, result_content_type = $4, error = $5, error_type = $6,
            result_ref = $7, result_size = $8,
            webhook_state = CASE WHEN webhook_url IS NULL THEN NULL ELSE 'pending' END,
            webhook_next_at = CASE WHEN webhook_url IS NULL THEN NULL ELSE now() END
      WHERE id = $1 AND status = 'IN_QUEUE' RETURNING id, app_id`,
    [id, c.status, c.body.inline, c.contentType, c.error ?? null, c.errorType ?? null, c.body.ref, c.body.size],
  );
  changed(q, rows as { id: string; app_id: string }[]);
  return rows.length > 0;
}

/** Puts a held request back in the queue to be retried on another runner. */
export async function requeue(q: Queryable, id: string, owner: string, failedRunner: string, logs: QueueLog[]): Promise<boolean> {
  const rows = await q.query<{ id: string; app_id: string }>(
    `UPDATE requests SET status = 'IN_QUEUE', lease_owner = NULL, lease_expires_at = NULL, runner_id = NULL,
            excluded_runners = excluded_runners || jsonb_build_array($3::text), logs = logs || $4::jsonb
      WHERE id = $1 AND lease_owner = $2 AND status = 'IN_PROGRESS' RETURNING id, app_id`,
    [id, owner, failedRunner, JSON.stringify(logs)],
  );
  await requeued(q, rows);
  return rows.length > 0;
}

/** Announces requests put back in the queue: to this process's dispatcher, and to the others (NOTIFY). */
async function requeued(q: Queryable, rows: readonly { id: string; app_id: string }[]): Promise<void> {
  if (rows.length === 0) return;
  changed(q, rows);
  const apps = rows.map((r) => r.app_id);
  await notifyOthers(q, apps);
  announce(q, apps);
}

/** Requests whose holder vanished (lease expired) go back to the queue. */
export async function requeueExpired(q: Queryable): Promise<string[]> {
  const rows = await q.query<{ id: string; app_id: string }>(
    `UPDATE requests SET status = 'IN_QUEUE', lease_owner = NULL, lease_expires_at = NULL,
            excluded_runners = CASE WHEN runner_id IS NULL THEN excluded_runners ELSE excluded_runners || jsonb_build_array(runner_id) END,
            runner_id = NULL
      WHERE status = 'IN_PROGRESS' AND lease_expires_at < now() RETURNING id, app_id`,
  );
  await requeued(q, rows);
  return rows.map((r) => r.id);
}

/** Requeues at once what dead processes of this host held (no need to wait for their leases). */
export async function requeueOwners(q: Queryable, owners: string[]): Promise<number> {
  if (owners.length === 0) return 0;
  const rows = await q.query<{ id: string; app_id: string }>(
    `UPDATE requests SET status = 'IN_QUEUE', lease_owner = NULL, lease_expires_at = NULL,
            excluded_runners = CASE WHEN runner_id IS NULL THEN excluded_runners ELSE excluded_runners || jsonb_build_array(runner_id) END,
            runner_id = NULL
      WHERE status = 'IN_PROGRESS' AND lease_owner = ANY($1::text[]) RETURNING id, app_id`,
    [owners],
  );
  await requeued(q, rows);
  return rows.length;
}

export async function leaseOwnersOnHost(q: Queryable, hostPrefix: string): Promise<string[]> {
  const rows = await q.query<{ lease_owner: string }>(
    "SELECT DISTINCT lease_owner FROM requests WHERE status = 'IN_PROGRESS' AND lease_owner LIKE $1",
    [`${hostPrefix}:%`],
  );
  return rows.map((r) => r.lease_owner);
}

/** Waiting requests whose X-Fal-Request-Timeout passed before processing started. */
export async function expiredStartDeadlines(q: Queryable): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    "SELECT id FROM requests WHERE status = 'IN_QUEUE' AND start_deadline IS NOT NULL AND start_deadline <= now() LIMIT 500",
  );
  return rows.map((r) => r.id);
}

export async function requestCancel(q: Queryable, id: string): Promise<void> {
  await q.query("UPDATE requests SET cancel_requested = true WHERE id = $1", [id]);
}

/**
 * Claims due webhook deliveries by pushing their next attempt a minute out,
 * so no other process delivers them meanwhile; the delivery then records its
 * real outcome. No transaction is held across the HTTP call.
 */
export type WebhookRow = Pick<RequestRow, "id" | "webhook_url" | "webhook_attempts" | "result_status" | "result_body" | "result_ref" | "error">;

export async function claimDueWebhooks(q: Queryable, limit: number): Promise<WebhookRow[]> {
  return q.query<WebhookRow>(
    `UPDATE requests SET webhook_next_at = now() + interval '60 seconds'
      WHERE id IN (SELECT id FROM requests WHERE webhook_state = 'pending' AND webhook_next_at <= now()
                    ORDER BY webhook_next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING id, webhook_url, webhook_attempts, result_status, result_body, result_ref, error`,
    [limit],
  );
}

export async function setWebhookState(q: Queryable, id: string, state: "pending" | "delivered" | "failed", attempts: number, nextInMs: number | null): Promise<void> {
  await q.query(
    `UPDATE requests SET webhook_state = $2, webhook_attempts = $3,
            webhook_next_at = CASE WHEN $4::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $4::float8 / 1000) END
      WHERE id = $1`,
    [id, state, attempts, nextInMs],
  );
}

export async function queueDepth(q: Queryable): Promise<{ status: string; n: number }[]> {
  const rows = await q.query<{ status: string; n: string }>(
    "SELECT status, count(*)::text AS n FROM requests WHERE status <> 'COMPLETED' GROUP BY status",
  );
  return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
}

/** What an owner holds: bytes of stored payloads, results and uploaded files, and requests waiting. For quotas. */
export async function ownerUsage(q: Queryable, owner: string): Promise<{ bytes: number; waiting: number }> {
  const [row] = await q.query<{ bytes: string; waiting: string }>(
    `SELECT (coalesce(sum(payload_size + result_size), 0)
             + (SELECT coalesce(sum(size), 0) FROM stored_files WHERE owner = $1))::text AS bytes,
            count(*) FILTER (WHERE status = 'IN_QUEUE')::text AS waiting
       FROM requests WHERE owner = $1`,
    [owner],
  );
  return { bytes: Number(row.bytes), waiting: Number(row.waiting) };
}

/**
 * Deletes up to `limit` requests completed more than retentionMs ago (not
 * while a webhook delivery is still pending); returns their ids so that their
 * stored bodies go too. Small batches: no long lock, no long PGlite stall.
 */
export async function deleteExpired(q: Queryable, retentionMs: number, limit: number): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    `DELETE FROM requests WHERE id IN (
       SELECT id FROM requests
        WHERE status = 'COMPLETED' AND completed_at < now() - make_interval(secs => $1::float8 / 1000)
          AND (webhook_state IS NULL OR webhook_state <> 'pending')
        LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [retentionMs, limit],
  );
  return rows.map((r) => r.id);
}
