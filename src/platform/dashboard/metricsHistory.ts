/**
 * The last hour of each app's queue depth and request latency, sampled by the
 * platform itself every 5 s (not by a browser while a page is open), for the
 * dashboard's charts (GET /v1/dashboard/apps/{name}/history).
 *
 * Each sample reads the requests table once for every app at once
 * (dashboardStore.sampleAllApps): requests waiting and in progress now, and
 * p50/p95 of the submit-to-completion time of the requests completed since
 * the previous sample (up to 1 s before it is taken: a completion committing
 * late counts in the next sample rather than never). The numbers are those of the database, so a platform
 * sharing it with others (regions) sees their requests too.
 *
 * Memory only, a ring of `windowMs / intervalMs` ticks (720 by default); a
 * tick keeps an entry only for apps that had something to report, so idle
 * apps cost nothing and a deleted app ages out within the window. A restart
 * starts an empty history.
 */
import type { Queryable } from "../store/db";
import type { Logger } from "../log";
import { sampleAllApps } from "../store/dashboardStore";

export const HISTORY_INTERVAL_MS = 5_000;
export const HISTORY_WINDOW_MS = 60 * 60 * 1000;
/** Completions are counted up to this long before a sample, so that none committing late is missed. */
const SETTLE_MS = 1_000;

/** One sample of one app, as the history endpoint answers it. */
export interface HistorySample {
  /** When the sample was taken (the database's clock), ISO 8601. */
  readonly at: string;
  /** Requests waiting (IN_QUEUE) at that moment. */
  readonly in_queue: number;
  /** Requests being worked on (IN_PROGRESS) at that moment. */
  readonly in_progress: number;
  /** Requests completed since the previous sample (up to 1 s before this one). */
  readonly completed: number;
  /** Median submit-to-completion time of those, ms; null when none completed. */
  readonly latency_p50_ms: number | null;
  /** 95th percentile of the same, ms; null when none completed. */
  readonly latency_p95_ms: number | null;
}

interface AppPoint {
  in_queue: number;
  in_progress: number;
  completed: number;
  p50: number | null;
  p95: number | null;
}

interface Tick {
  readonly at: Date;
  readonly apps: ReadonlyMap<string, AppPoint>;
}

export interface MetricsHistoryOptions {
  readonly intervalMs?: number;
  readonly windowMs?: number;
  readonly log?: Logger;
}

export class MetricsHistory {
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly ring: (Tick | undefined)[];
  /** Index the next tick goes to. */
  private next = 0;
  private since: Date | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly log?: Logger;
  private failing = false;

  constructor(
    private readonly db: Queryable,
    opts: MetricsHistoryOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? HISTORY_INTERVAL_MS;
    this.windowMs = opts.windowMs ?? HISTORY_WINDOW_MS;
    this.ring = new Array<Tick | undefined>(Math.max(1, Math.ceil(this.windowMs / this.intervalMs)));
    this.log = opts.log;
  }

  /** Samples now and then every interval; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops sampling; resolves once a sample in progress has finished (before the database closes). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  /** One sample, unless one is still running (a slow database skips ticks rather than piling them up). */
  tick(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.sample()
      .catch((err: unknown) => {
        // Once per run of failures: the database may be closing or briefly away.
        if (!this.failing) this.log?.warn({ err: err instanceof Error ? err.message : String(err) }, "dashboard history: sample failed");
        this.failing = true;
      })
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  private async sample(): Promise<void> {
    const { at, until, depth, latency } = await sampleAllApps(this.db, this.since, SETTLE_MS, this.intervalMs / 1000);
    this.since = until;
    this.failing = false;
    const apps = new Map<string, AppPoint>();
    const point = (id: string): AppPoint => {
      let p = apps.get(id);
      if (!p) apps.set(id, (p = { in_queue: 0, in_progress: 0, completed: 0, p50: null, p95: null }));
      return p;
    };
    for (const d of depth) Object.assign(point(d.app_id), { in_queue: Number(d.in_queue), in_progress: Number(d.in_progress) });
    for (const l of latency) Object.assign(point(l.app_id), { completed: Number(l.completed), p50: Math.round(Number(l.p50_ms)), p95: Math.round(Number(l.p95_ms)) });
    this.ring[this.next] = { at, apps };
    this.next = (this.next + 1) % this.ring.length;
  }

  /** The samples of one app within the window, oldest first (zeros where it had nothing). */
  samples(appId: string): HistorySample[] {
    const out: HistorySample[] = [];
    const oldest = Date.now() - this.windowMs;
    for (let i = 0; i < this.ring.length; i++) {
      const t = this.ring[(this.next + i) % this.ring.length];
      if (!t || t.at.getTime() < oldest) continue;
      const p = t.apps.get(appId);
      out.push({
        at: t.at.toISOString(),
        in_queue: p?.in_queue ?? 0,
        in_progress: p?.in_progress ?? 0,
        completed: p?.completed ?? 0,
        latency_p50_ms: p?.p50 ?? null,
        latency_p95_ms: p?.p95 ?? null,
      });
    }
    return out;
  }
}
