/**
 * The autoscaler: every decision about how many runners an app has lives in
 * this file, so the rules of docs/semantics.md can be read (and tested) in
 * one place. Like Knative's autoscaler it only decides; the runner manager
 * (manager.ts) does the starting and stopping.
 *
 * The decisions are pure functions, exported for unit tests:
 *   - wantedRunners: how many runners demand (in flight + queued) calls for;
 *   - shouldScaleUp: whether to start them now (scale from zero, scaling_delay);
 *   - shouldStartForSyncCall: whether a sync call that found no free slot starts one;
 *   - warmRunners: what min_concurrency / concurrency_buffer hold with no traffic;
 *   - idleRunnersToStop: which idle runners past keep_alive to stop;
 *   - crashBackoffMs: how long a revision whose runners keep failing setup waits.
 *
 * The Autoscaler class applies them: the queue dispatcher calls reconcile for
 * every app with waiting requests, and a periodic tick keeps apps warm and
 * scales idle ones down.
 */
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import type { AppRow, RevisionRow } from "../store/repo";
import * as runnerStore from "../store/runnerStore";
import type { RuntimeScaling } from "../../model/catalog";
import type { Logger } from "../log";
import { ACTIVE_STATES, type ManagedRunner, type RunnerManager, type RunnerState } from "./manager";

// ---- decisions (pure)

/**
 * How many runners an app wants, as fal documents it:
 *   buffer = max(concurrency_buffer, ceil(concurrency_buffer_perc% of demand))
 *   wanted = clamp(max(min_concurrency, ceil(demand / max_multiplexing) + buffer), 0, max_concurrency)
 * where demand is requests in flight plus requests queued.
 */
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

/** What a sync call that found no free slot sees of its app's runners of the active revision. */
export interface SyncCallDemand {
  /** Runners starting, idle or busy (not draining). */
  readonly active: number;
  /** Of those, runners still starting (PENDING, BUILDING, SETUP). */
  readonly starting: number;
  /** Sync calls of the app waiting for a slot, this one included. */
  readonly waiting: number;
  readonly maxConcurrency: number;
  readonly maxMultiplexing: number;
}

/**
 * Whether a sync call that found no free slot starts a runner: when the
 * runners already starting cannot take every waiting call, and the app is
 * below max_concurrency. One runner is always allowed, so a sync call scales
 * an app from zero even with max_concurrency 0. Sync calls do not wait for
 * scaling_delay: their caller is holding a connection open.
 */
export function shouldStartForSyncCall(d: SyncCallDemand): boolean {
  return d.active < Math.max(1, d.maxConcurrency) && d.starting * d.maxMultiplexing < d.waiting;
}

/**
 * Runners an app keeps with no traffic at all (keep-warm): min_concurrency, or
 * concurrency_buffer when larger, within max_concurrency.
 */
export function warmRunners(scaling: RuntimeScaling, maxMultiplexing: number): number {
  return wantedRunners(scaling, maxMultiplexing, 0);
}

/** What scale-down needs to know of a runner. */
export interface RunnerLoad {
  readonly state: RunnerState;
  readonly inFlight: number;
  /** When it last took or finished a request (ms since the epoch). */
  readonly lastActive: number;
  readonly maxMultiplexing: number;
}

/**
 * Which of an app's runners to stop: idle ones whose keep_alive has passed,
 * in the order given, while more are live (idle or busy) than current demand
 * (in flight + `queued`) wants, so min_concurrency and the buffer stay.
 */
export function idleRunnersToStop<R extends RunnerLoad>(runners: readonly R[], scaling: RuntimeScaling, queued: number, now: number): R[] {
  let live = runners.filter((r) => r.state === "IDLE" || r.state === "RUNNING").length;
  const inFlight = runners.reduce((n, r) => n + r.inFlight, 0);
  const keep = wantedRunners(scaling, runners[0]?.maxMultiplexing ?? 1, inFlight + queued);
  const stop: R[] = [];
  for (const r of runners) {
    if (live <= keep) break;
    if (r.state === "IDLE" && now - r.lastActive > scaling.keep_alive * 1000) {
      live--;
      stop.push(r);
    }
  }
  return stop;
}

/** Whether a platform process of `region` may place the app's runners: `regions` empty means any. */
export function regionAllows(regions: readonly string[], region: string): boolean {
  return regions.length === 0 || regions.includes(region);
}

/** A runner that holds GPUs, as preemption sees it. */
export interface GpuHolder {
  readonly id: string;
  readonly appId: string;
  readonly revisionId: string;
  readonly state: RunnerState;
  readonly inFlight: number;
  readonly lastActive: number;
  readonly gpus: number;
}

/**
 * Which idle runners to preempt (drain gracefully) so that a waiting runner
 * of `waitingRevision` gets `missing` more GPUs: idle GPU holders of other
 * revisions whose app keeps more ready runners than its min_concurrency,
 * oldest idle first, until enough GPUs come free. GPUs of runners already
 * draining count as coming free. Runners an app's min_concurrency keeps are
 * never preempted; busy runners never are.
 */
export function runnersToPreempt<R extends GpuHolder>(
  holders: readonly R[],
  missing: number,
  waitingRevision: string,
  minConcurrency: (appId: string) => number,
): R[] {
  let need = missing - holders.filter((r) => r.state === "DRAINING" || r.state === "TERMINATING").reduce((n, r) => n + r.gpus, 0);
  if (need <= 0) return [];
  const ready = new Map<string, number>();
  for (const r of holders) if (r.state === "IDLE" || r.state === "RUNNING") ready.set(r.appId, (ready.get(r.appId) ?? 0) + 1);
  const chosen: R[] = [];
  const candidates = holders
    .filter((r) => r.state === "IDLE" && r.inFlight === 0 && r.gpus > 0 && r.revisionId !== waitingRevision)
    .sort((a, b) => a.lastActive - b.lastActive);
  for (const r of candidates) {
    if (need <= 0) break;
    const left = ready.get(r.appId) ?? 0;
    if (left <= minConcurrency(r.appId)) continue;
    ready.set(r.appId, left - 1);
    chosen.push(r);
    need -= r.gpus;
  }
  // Preempting runners that cannot free enough would stop them for nothing.
  return need <= 0 ? chosen : [];
}

/** Crash backoff: 30 s per consecutive setup failure, at most 10 minutes. */
export function crashBackoffMs(consecutiveFailures: number): number {
  return Math.min(30_000 * consecutiveFailures, 600_000);
}

// ---- the autoscaler (applies the decisions)

export interface AutoscalerOptions {
  readonly db: Db;
  readonly runners: RunnerManager;
  readonly log: Logger;
  /** How often keep-warm and scale-down run. Default 1000 ms. */
  readonly tickMs?: number;
}

/** How often a process refreshes its runners' rows; well within runnerStore.RUNNER_ROW_FRESH_S. */
const HEARTBEAT_MS = 5000;

/** Queued demand seen by the last reconcile counts for scale-down this long; after that, only what runners hold. */
const QUEUED_DEMAND_FRESH_MS = 2000;


export class Autoscaler {
  /** Queued demand each app had at its last reconcile, and when. */
  private readonly queuedDemand = new Map<string, { queued: number; at: number }>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  private lastHeartbeat = 0;

  constructor(private readonly opts: AutoscalerOptions) {}

  /** Starts the periodic keep-warm and scale-down. */
  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the periodic work and waits for a tick in progress, so nothing starts runners after it. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
  }

  /**
   * One app's step, with `queued` requests waiting, the oldest for
   * oldestWaitMs: computes the wanted runner count from demand (in flight +
   * queued) and starts runners of the revision up to it.
   */
  reconcile(app: AppRow, revision: RevisionRow, queued: number, oldestWaitMs: number): { wanted: number; live: number } {
    const { runners } = this.opts;
    const mine = runners.list(app.id).filter((r) => r.revisionId === revision.id && ACTIVE_STATES.includes(r.state));
    const inFlight = mine.reduce((n, r) => n + r.inFlight, 0);
    const wanted = wantedRunners(app.scaling, revision.code_settings.max_multiplexing, inFlight + queued);
    this.queuedDemand.set(app.id, { queued, at: Date.now() });
    if (!runners.placeableHere(app)) return { wanted, live: mine.length };
    if (shouldScaleUp(mine.length, wanted, queued, oldestWaitMs, app.scaling) && !runners.inBackoff(revision.id)) {
      // `wanted` bounds the app's runners across all platform processes of the database too.
      for (let i = mine.length; i < wanted; i++) runners.startRunner(app, revision, wanted);
    }
    return { wanted, live: mine.length };
  }

  private tick(): void {
    if (this.stopped || this.ticking) return;
    const { log } = this.opts;
    this.ticking = (async () => {
      await this.heartbeat().catch((e) => log.warn({ err: String(e) }, "runner heartbeat failed"));
      await this.keepWarm().catch((e) => log.error({ err: String(e) }, "keep-warm failed"));
      if (!this.stopped) await this.scaleDown().catch((e) => log.error({ err: String(e) }, "scale-down failed"));
    })().finally(() => {
      this.ticking = undefined;
    });
  }

  /** Keeps this process's runner rows fresh, so other processes count them (runnerStore.reserveRunnerSlot). */
  private async heartbeat(): Promise<void> {
    if (Date.now() - this.lastHeartbeat < HEARTBEAT_MS) return;
    this.lastHeartbeat = Date.now();
    await runnerStore.touchRunners(this.opts.db, this.opts.runners.all().map((r) => r.id));
  }

  /** min_concurrency and concurrency_buffer hold runners even with no traffic. */
  private async keepWarm(): Promise<void> {
    const { db } = this.opts;
    for (const app of await runnerStore.appsKeptWarm(db)) {
      const revision = await repo.getRevision(db, app.current_revision!);
      if (revision && !this.stopped) this.reconcile(app, revision, 0, 0);
    }
  }

  /** Stops idle runners past keep_alive beyond what demand wants, and every runner of a deleted app. */
  private async scaleDown(): Promise<void> {
    const { db, runners, log } = this.opts;
    for (const [appId, mine] of groupByApp(runners.all())) {
      const app = await repo.getAppById(db, appId);
      if (!app) {
        for (const r of mine) if (r.state !== "DRAINING" && r.state !== "TERMINATING") void runners.stopRunner(r, "graceful");
        continue;
      }
      for (const r of idleRunnersToStop(mine, app.scaling, this.recentQueued(appId), Date.now())) {
        log.info({ runner_id: r.id, app: app.name }, "stopping idle runner (keep_alive passed)");
        void runners.stopRunner(r, "graceful");
      }
    }
  }

  /** What waited at the app's last reconcile, if that was recent; the queue reconciles every app with waiting work. */
  private recentQueued(appId: string): number {
    const q = this.queuedDemand.get(appId);
    return q && Date.now() - q.at < QUEUED_DEMAND_FRESH_MS ? q.queued : 0;
  }
}

function groupByApp(runners: readonly ManagedRunner[]): Map<string, ManagedRunner[]> {
  const byApp = new Map<string, ManagedRunner[]>();
  for (const r of runners) byApp.set(r.appId, [...(byApp.get(r.appId) ?? []), r]);
  return byApp;
}
