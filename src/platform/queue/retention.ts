/**
 * Retention: completed requests, with their payloads and results, are deleted
 * requestRetentionMs after they completed (their results are fetchable until
 * then), so the queue and the disk do not grow forever. Runs every minute in
 * every platform process; rows go in small batches (FOR UPDATE SKIP LOCKED),
 * so no pass holds a long lock or stalls PGlite, and several processes share
 * the work. Bodies whose row is gone (a crash between the two deletes, a
 * submit that failed after storing its body) are swept too.
 */
import type { Db } from "../store/db";
import * as qs from "../store/queueStore";
import * as storage from "../store/storageStore";
import type { PayloadStore } from "../store/payloadStore";
import type { Logger } from "../log";

/** Rows deleted per statement. */
const BATCH = 500;
/** A body is an orphan only when its row is missing this long after it was stored (put comes before insert). */
const ORPHAN_GRACE_MS = 10 * 60_000;

export interface RetentionOptions {
  readonly db: Db;
  readonly payloads: PayloadStore;
  readonly retentionMs: number;
  readonly log?: Logger;
  /** How often a pass runs. Default 60 s. */
  readonly intervalMs?: number;
  /** Default 10 min. */
  readonly orphanGraceMs?: number;
  /** Rows per statement. Default 500. */
  readonly batch?: number;
}

/** One clean-up pass; returns what it deleted. */
export async function runRetentionOnce(o: RetentionOptions): Promise<{ requests: number; orphans: number }> {
  const batch = o.batch ?? BATCH;
  // Expired requests, then uploaded files (storage), which expire like requests, counted from their upload.
  const requests =
    (await deleteInBatches(o, batch, () => qs.deleteExpired(o.db, o.retentionMs, batch))) +
    (await deleteInBatches(o, batch, () => storage.deleteExpiredFiles(o.db, o.retentionMs, batch)));
  const orphans = await o.payloads.deleteOrphans(o.orphanGraceMs ?? ORPHAN_GRACE_MS, batch);
  return { requests, orphans };
}

/** Deletes rows batch by batch, each batch's stored bodies after its rows; returns how many rows went. */
async function deleteInBatches(o: RetentionOptions, batch: number, deleteRows: () => Promise<string[]>): Promise<number> {
  let deleted = 0;
  for (;;) {
    const ids = await deleteRows();
    // Row first, then bodies: a crash in between leaves orphans the sweep removes, never a row without its body.
    await o.payloads.delete(ids);
    deleted += ids.length;
    if (ids.length < batch) return deleted;
    // Let other queries in between batches (PGlite runs one statement at a time).
    await new Promise((r) => setImmediate(r));
  }
}

/** Runs the clean-up now and every intervalMs; returns a stop function that waits for a pass in flight. */
export function startRetention(o: RetentionOptions): () => Promise<void> {
  let running: Promise<void> | undefined;
  const pass = () => {
    if (running) return;
    running = runRetentionOnce(o)
      .then((r) => {
        if (r.requests || r.orphans) o.log?.info({ requests: r.requests, orphaned_bodies: r.orphans }, "deleted expired requests");
      })
      .catch((err) => o.log?.error({ err: String(err) }, "request retention pass failed"))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(pass, o.intervalMs ?? 60_000);
  timer.unref();
  pass();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
