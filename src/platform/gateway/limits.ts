/**
 * What one caller may make the platform keep: the biggest body, per-owner
 * bytes of stored payloads and results, per-owner waiting requests, and how
 * long completed requests are kept. A public app must not let anyone fill the
 * disk or the queue.
 */
import type { Queryable } from "../store/db";
import { ownerUsage } from "../store/queueStore";
import { PlatformError } from "../errors";

export interface RequestLimits {
  /** Largest request body the gateway accepts (413 above). */
  readonly maxBodyBytes: number;
  /** Bytes of stored payloads + results an owner's requests may hold until they expire (429 above). */
  readonly ownerStorageQuotaBytes: number;
  /** Requests an owner may have waiting in the queue (429 above). */
  readonly ownerQueueLimit: number;
  /** Completed requests (and their bodies) are deleted this long after completion. */
  readonly requestRetentionMs: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  maxBodyBytes: 64 * 1024 * 1024,
  ownerStorageQuotaBytes: 10 * 1024 ** 3,
  ownerQueueLimit: 10_000,
  requestRetentionMs: 7 * 24 * 3600 * 1000,
};

/**
 * Refuses a submit that would take the owner over a quota. Counted, not
 * reserved: concurrent submits may overshoot by what they carry together.
 * Returns the usage it counted (queue/ownerQuota.ts caches it for submits).
 */
export async function checkOwnerQuota(q: Queryable, owner: string, bodyBytes: number, limits: RequestLimits): Promise<{ bytes: number; waiting: number }> {
  const usage = await ownerUsage(q, owner);
  if (usage.waiting >= limits.ownerQueueLimit) {
    throw new PlatformError(
      429,
      "queue_limit",
      `owner '${owner}' already has ${usage.waiting} requests waiting; the limit is ${limits.ownerQueueLimit}`,
      { limit: limits.ownerQueueLimit, waiting: usage.waiting },
    );
  }
  if (usage.bytes + bodyBytes > limits.ownerStorageQuotaBytes) {
    throw new PlatformError(
      429,
      "storage_quota",
      `owner '${owner}' stores ${usage.bytes} bytes of request payloads and results; this request's ${bodyBytes} bytes ` +
        `would exceed the quota of ${limits.ownerStorageQuotaBytes} bytes (they are freed when requests expire)`,
      { limit: limits.ownerStorageQuotaBytes, used: usage.bytes },
    );
  }
  return usage;
}

/** True when a completed request is past retention (answered as gone even before the clean-up runs). */
export function isExpired(completedAt: Date | null, limits: RequestLimits, now = Date.now()): boolean {
  return completedAt !== null && completedAt.getTime() + limits.requestRetentionMs < now;
}

/** `64MiB`-style size for messages. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}
