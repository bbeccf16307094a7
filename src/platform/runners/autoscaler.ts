/**
 * How many runners an app wants, as fal documents it:
 *   buffer = max(concurrency_buffer, ceil(concurrency_buffer_perc% of demand))
 *   wanted = clamp(max(min_concurrency, ceil(demand / max_multiplexing) + buffer), 0, max_concurrency)
 * where demand is requests in flight plus requests queued.
 */
import type { RuntimeScaling } from "../../model/catalog";

export function wantedRunners(scaling: RuntimeScaling, maxMultiplexing: number, demand: number): number {
  const buffer = Math.max(scaling.concurrency_buffer, Math.ceil((scaling.concurrency_buffer_perc / 100) * demand));
  const need = Math.ceil(demand / Math.max(1, maxMultiplexing)) + buffer;
  return Math.min(Math.max(scaling.min_concurrency, need, 0), scaling.max_concurrency);
}

/**
 * Whether to start runners now: always when none is live and work waits (scale
 * from zero), otherwise only once the oldest waiting request has waited longer
 * than scaling_delay.
 */
export function shouldScaleUp(live: number, wanted: number, queued: number, oldestWaitMs: number, scaling: RuntimeScaling): boolean {
  if (wanted <= live) return false;
  if (live === 0 || queued === 0) return true;
  return oldestWaitMs >= scaling.scaling_delay * 1000;
}

/** Crash backoff: 30 s per consecutive failure, at most 10 minutes. */
export function crashBackoffMs(consecutiveFailures: number): number {
  return Math.min(30_000 * consecutiveFailures, 600_000);
}
