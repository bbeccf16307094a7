/**
 * The per-owner quotas (gateway/limits.ts: requests waiting, bytes stored)
 * on the submit path, without a sum over the owner's requests on every
 * submit: each process keeps the last exact count per owner and what its own
 * submits added since, and counts again (the same check, the same 429 answer)
 * whenever
 *
 *  - that count is older than REFRESH_MS (1 s), or
 *  - the estimate (count + this process's additions + this request) comes
 *    within a tenth of a limit: HEADROOM of it, at least 100 requests or
 *    64 MiB, so small limits are always checked exactly.
 *
 * A submit is therefore only ever refused by an exact count. Accepted on the
 * estimate means: more than a tenth of the limit was free at most a second
 * ago, counting everything this process added since. What other processes on
 * the same PostgreSQL, results and uploaded files add meanwhile is seen at
 * the next count, within a second; before, the quotas were already "counted,
 * not reserved" (concurrent submits may overshoot together).
 */
import type { Queryable } from "../store/db";
import { checkOwnerQuota, type RequestLimits } from "../gateway/limits";

/** How long an exact count stands in for the next ones. */
export const REFRESH_MS = 1000;
/** The fraction of a limit below which the count is always exact. */
export const HEADROOM = 0.1;
const MIN_HEADROOM_REQUESTS = 100;
const MIN_HEADROOM_BYTES = 64 * 1024 * 1024;
/** Owners remembered per process (the least recently counted are forgotten first). */
const MAX_OWNERS = 10_000;

interface Count {
  /** When the exact count was taken (Date.now()). */
  readonly at: number;
  /** Waiting requests and stored bytes counted then, plus what this process's submits added since. */
  waiting: number;
  bytes: number;
}

const counts = new WeakMap<Queryable, Map<string, Count>>();

/**
 * Refuses a submit of `bodyBytes` that would take `owner` over a quota, with
 * checkOwnerQuota's error; counts exactly only when the rule above says so.
 * Call `added` once the request is stored.
 */
export async function checkSubmitQuota(
  db: Queryable,
  owner: string,
  bodyBytes: number,
  limits: RequestLimits,
  now = Date.now(),
): Promise<void> {
  let perDb = counts.get(db);
  if (!perDb) counts.set(db, (perDb = new Map()));
  const c = perDb.get(owner);
  if (c && now - c.at < REFRESH_MS && clearOf(c, bodyBytes, limits)) return;
  const usage = await checkOwnerQuota(db, owner, bodyBytes, limits);
  perDb.delete(owner);
  perDb.set(owner, { at: now, waiting: usage.waiting, bytes: usage.bytes });
  if (perDb.size > MAX_OWNERS) perDb.delete(perDb.keys().next().value!);
}

/** A request of `owner` was stored: its bytes count now, and it waits unless it was claimed in its insert. */
export function addedToQuota(db: Queryable, owner: string, bodyBytes: number, queued: boolean): void {
  const c = counts.get(db)?.get(owner);
  if (!c) return;
  c.bytes += bodyBytes;
  if (queued) c.waiting += 1;
}

function clearOf(c: Count, bodyBytes: number, limits: RequestLimits): boolean {
  const requestsHeadroom = Math.max(MIN_HEADROOM_REQUESTS, Math.ceil(limits.ownerQueueLimit * HEADROOM));
  const bytesHeadroom = Math.max(MIN_HEADROOM_BYTES, Math.ceil(limits.ownerStorageQuotaBytes * HEADROOM));
  return c.waiting + 1 + requestsHeadroom <= limits.ownerQueueLimit && c.bytes + bodyBytes + bytesHeadroom <= limits.ownerStorageQuotaBytes;
}
