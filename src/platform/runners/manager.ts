/**
 * Keeps the runners of every app: starts them on the backend, hands out
 * leases (at most max_multiplexing requests per runner), starts one when a
 * request finds no free capacity (scale from zero), drains old revisions after
 * a switch, and stops idle runners past keep_alive.
 *
 * Runner state lives in memory (this process owns its child processes) and is
 * mirrored to the runners table so the API and falctl can show it.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync, existsSync, chmodSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import type { AppRow, RevisionRow } from "../store/repo";
import { LocalBackend, LocalRunner, RunnerStartError } from "./localBackend";
import type { Logger } from "../log";
import { crashBackoffMs, shouldScaleUp, wantedRunners } from "./autoscaler";
import { MACHINE_TYPES } from "../../model/catalog";

export type RunnerState =
  | "PENDING"
  | "SETUP"
  | "IDLE"
  | "RUNNING"
  | "DRAINING"
  | "TERMINATING"
  | "TERMINATED"
  | "DEAD";

export interface ManagedRunner {
  readonly id: string;
  readonly appId: string;
  readonly revisionId: string;
  readonly machineType: string;
  readonly maxMultiplexing: number;
  /** The app's request_timeout when the runner started: how long a drain waits for in-flight work. */
  readonly requestTimeoutMs: number;
  readonly startedAt: number;
  state: RunnerState;
  inFlight: number;
  lastActive: number;
  proc?: LocalRunner;
  readonly ready: Promise<void>;
}

export interface Lease {
  readonly runner: ManagedRunner;
  readonly url: string;
  release(): void;
}

export interface RunnerManagerOptions {
  readonly db: Db;
  readonly backend: LocalBackend;
  readonly dataDir: string;
  readonly hostId: string;
  readonly log: Logger;
  /** SIGTERM → SIGKILL grace period for runners. Default 5 s. */
  readonly graceMs?: number;
  /** How often idle runners are checked. Default 1 s. */
  readonly reapIntervalMs?: number;
}

interface Waiter {
  readonly appId: string;
  readonly revisionId: string;
  resolve(): void;
}

interface Backoff {
  failures: number;
  until: number;
}

export class RunnerManager {
  private readonly runners = new Map<string, ManagedRunner>();
  /** Consecutive start failures per revision (CRASH_BACKOFF). */
  private readonly backoff = new Map<string, Backoff>();
  /** Queued demand each app had at its last reconcile, and when; the reaper counts it while fresh. */
  private readonly queuedDemand = new Map<string, { queued: number; at: number }>();
  private waiters: Waiter[] = [];
  private readonly graceMs: number;
  private readonly reaper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: RunnerManagerOptions) {
    this.graceMs = opts.graceMs ?? 5000;
    this.reaper = setInterval(() => void this.reap().catch((e) => opts.log.error({ err: String(e) }, "reaper")), opts.reapIntervalMs ?? 1000);
    this.reaper.unref();
  }

  countByState(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.runners.values()) m.set(r.state, (m.get(r.state) ?? 0) + 1);
    return m;
  }

  list(appId: string): ManagedRunner[] {
    return [...this.runners.values()].filter((r) => r.appId === appId);
  }

  /**
   * A lease on a runner of `revision` with free capacity, starting a runner
   * when none has any and max_concurrency allows; otherwise waits for one.
   */
  async acquire(app: AppRow, revision: RevisionRow, signal?: AbortSignal): Promise<Lease> {
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      const free = this.list(app.id).find(
        (r) =>
          r.revisionId === revision.id &&
          (r.state === "IDLE" || r.state === "RUNNING") &&
          r.inFlight < r.maxMultiplexing,
      );
      if (free) return this.lease(free);

      const active = this.list(app.id).filter(
        (r) => r.revisionId === revision.id && ["PENDING", "SETUP", "IDLE", "RUNNING"].includes(r.state),
      );
      const starting = active.filter((r) => r.state === "PENDING" || r.state === "SETUP").length;
      const waiting = this.waiters.filter((w) => w.appId === app.id).length + 1;
      if (
        active.length < Math.max(1, app.scaling.max_concurrency) &&
        starting * revision.code_settings.max_multiplexing < waiting &&
        !this.inBackoff(revision.id)
      ) {
        const r = this.start(app, revision);
        r.ready.catch(() => undefined);
      }
      await this.waitForCapacity(app.id, revision.id, signal);
    }
  }

  /** A lease on a ready runner of the revision with a free slot, not among `exclude`; no waiting. */
  tryLease(appId: string, revisionId: string, exclude: readonly string[] = []): Lease | undefined {
    const free = this.list(appId).find(
      (r) =>
        r.revisionId === revisionId &&
        (r.state === "IDLE" || r.state === "RUNNING") &&
        r.inFlight < r.maxMultiplexing &&
        !exclude.includes(r.id),
    );
    return free ? this.lease(free) : undefined;
  }

  /**
   * The autoscaler's step for one app: computes the wanted runner count from
   * demand (in flight + queued) and starts runners up to it.
   */
  reconcile(app: AppRow, revision: RevisionRow, queued: number, oldestWaitMs: number): { wanted: number; live: number } {
    const mine = this.list(app.id).filter(
      (r) => r.revisionId === revision.id && ["PENDING", "SETUP", "IDLE", "RUNNING"].includes(r.state),
    );
    const inFlight = mine.reduce((n, r) => n + r.inFlight, 0);
    const wanted = wantedRunners(app.scaling, revision.code_settings.max_multiplexing, inFlight + queued);
    this.queuedDemand.set(app.id, { queued, at: Date.now() });
    if (shouldScaleUp(mine.length, wanted, queued, oldestWaitMs, app.scaling) && !this.inBackoff(revision.id)) {
      for (let i = mine.length; i < wanted; i++) this.start(app, revision).ready.catch(() => undefined);
    }
    return { wanted, live: mine.length };
  }

  /** Stops a runner that answered 503 or failed its health check; demand starts a replacement. */
  async replace(runnerId: string, reason: string): Promise<void> {
    const r = this.runners.get(runnerId);
    if (!r) return;
    this.opts.log.warn({ runner_id: runnerId, reason }, "replacing runner");
    await this.stop(r, "force");
  }

  /** Restarts every runner of an app (a rollout): graceful lets them finish what they hold. */
  async rollout(appId: string, mode: "graceful" | "force"): Promise<number> {
    const rs = this.list(appId);
    await Promise.all(rs.map((r) => this.stop(r, mode)));
    return rs.length;
  }

  /** Seconds until a crashed revision may start runners again, or 0. */
  backoffRemaining(revisionId: string): number {
    const b = this.backoff.get(revisionId);
    return b ? Math.max(0, Math.ceil((b.until - Date.now()) / 1000)) : 0;
  }

  backoffFailures(revisionId: string): number {
    return this.backoff.get(revisionId)?.failures ?? 0;
  }

  private inBackoff(revisionId: string): boolean {
    return this.backoffRemaining(revisionId) > 0;
  }

  /** Starts a runner and resolves once it is healthy; rejects with RunnerStartError otherwise. */
  async startAndWait(app: AppRow, revision: RevisionRow): Promise<ManagedRunner> {
    const r = this.start(app, revision);
    await r.ready;
    return r;
  }

  /** Gracefully stops every runner of the app not on keepRevisionId. */
  async drainOthers(appId: string, keepRevisionId: string | null): Promise<void> {
    await Promise.all(
      this.list(appId)
        .filter((r) => r.revisionId !== keepRevisionId)
        .map((r) => this.stop(r, "graceful")),
    );
  }

  async stopApp(appId: string): Promise<void> {
    await this.drainOthers(appId, null);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    await Promise.all([...this.runners.values()].map((r) => this.stop(r, "graceful")));
  }

  killAll(): void {
    this.opts.backend.killAll();
  }

  private start(app: AppRow, revision: RevisionRow): ManagedRunner {
    const id = randomUUID();
    const machineType =
      revision.code_settings.machine_types.find((t) => this.opts.backend.canHost(t)) ??
      revision.code_settings.machine_types[0];
    const runner: ManagedRunner = {
      id,
      appId: app.id,
      revisionId: revision.id,
      machineType,
      maxMultiplexing: revision.code_settings.max_multiplexing,
      requestTimeoutMs: app.scaling.request_timeout * 1000,
      startedAt: Date.now(),
      state: "PENDING",
      inFlight: 0,
      lastActive: Date.now(),
      ready: undefined as unknown as Promise<void>,
    };
    (runner as { ready: Promise<void> }).ready = this.boot(runner, app, revision);
    runner.ready.catch(() => undefined);
    this.runners.set(id, runner);
    return runner;
  }

  private async boot(runner: ManagedRunner, app: AppRow, revision: RevisionRow): Promise<void> {
    const log = this.opts.log.child({ runner_id: runner.id, app: app.name, env: app.environment });
    await this.persist(runner);
    try {
      const workDir = await this.materialize(revision);
      // Secrets reach a runner as environment variables when it starts; a change needs a rollout.
      const secrets = await repo.secretValues(this.opts.db, app.owner, app.environment);
      runner.state = "SETUP";
      const proc = await this.opts.backend.start({
        runnerId: runner.id,
        workDir,
        entrypoint: revision.source_object,
        env: { ...secrets, FAL_APP_NAME: app.name, FAL_ENVIRONMENT: app.environment, FAL_REVISION: revision.id },
        // A GPU machine type has its GPU count; num_gpus multiplies it.
        gpus: (MACHINE_TYPES[runner.machineType]?.gpus ?? 0) * Math.max(1, revision.code_settings.num_gpus),
        startupTimeoutMs: revision.code_settings.startup_timeout * 1000,
      });
      runner.proc = proc;
      await this.persist(runner);
      log.info({ pid: proc.pid, port: proc.port }, "runner starting");
      await proc.ready;
      if (runner.state !== "SETUP") return; // stopped while starting
      runner.state = "IDLE";
      runner.lastActive = Date.now();
      this.backoff.delete(revision.id);
      await this.persist(runner);
      log.info({ setup_ms: Date.now() - runner.startedAt }, "runner ready");
      void proc.exited.then((exit) => this.onExit(runner, exit.code, exit.signal));
      this.wake(app.id);
    } catch (err) {
      runner.state = "DEAD";
      this.runners.delete(runner.id);
      const failures = (this.backoff.get(revision.id)?.failures ?? 0) + 1;
      this.backoff.set(revision.id, { failures, until: Date.now() + crashBackoffMs(failures) });
      await this.persist(runner, err instanceof Error ? err.message : String(err));
      log.warn({ err: err instanceof RunnerStartError ? err.message.split("\n")[0] : String(err) }, "runner failed to start");
      this.wake(app.id);
      throw err;
    }
  }

  private async onExit(runner: ManagedRunner, code: number | null, signal: string | null): Promise<void> {
    if (runner.state === "TERMINATING" || runner.state === "DRAINING" || runner.state === "TERMINATED") return;
    runner.state = "DEAD";
    this.runners.delete(runner.id);
    await this.persist(runner, `exited unexpectedly (${signal ?? `code ${code}`})`);
    this.opts.log.warn({ runner_id: runner.id, code, signal }, "runner died");
    this.wake(runner.appId);
  }

  private lease(r: ManagedRunner): Lease {
    r.inFlight++;
    r.state = "RUNNING";
    r.lastActive = Date.now();
    let released = false;
    return {
      runner: r,
      url: r.proc!.url,
      release: () => {
        if (released) return;
        released = true;
        r.inFlight--;
        r.lastActive = Date.now();
        if (r.state === "RUNNING" && r.inFlight === 0) r.state = "IDLE";
        this.wake(r.appId);
      },
    };
  }

  private waitForCapacity(appId: string, revisionId: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        if (this.removeWaiter(w)) reject(signal!.reason ?? new Error("aborted"));
      };
      // Every way out removes the abort listener, so long waits do not pile them up.
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const w: Waiter = { appId, revisionId, resolve: done };
      this.waiters.push(w);
      // A periodic re-check covers runners that died without a wake-up.
      const t = setTimeout(() => this.removeWaiter(w) && done(), 1000);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private removeWaiter(w: Waiter): boolean {
    const i = this.waiters.indexOf(w);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    return true;
  }

  private wake(appId: string): void {
    const mine = this.waiters.filter((w) => w.appId === appId);
    this.waiters = this.waiters.filter((w) => w.appId !== appId);
    for (const w of mine) w.resolve();
  }

  private async stop(r: ManagedRunner, mode: "graceful" | "force"): Promise<void> {
    if (r.state === "TERMINATED" || r.state === "DEAD") return;
    r.state = mode === "graceful" ? "DRAINING" : "TERMINATING";
    await this.persist(r);
    if (mode === "graceful") {
      // A draining runner takes no new leases; wait for what it holds (bounded by
      // request_timeout) before SIGTERM, so the grace period is for teardown only.
      const deadline = Date.now() + r.requestTimeoutMs;
      while (r.inFlight > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    }
    // Graceful: the runner finishes what it holds (its SIGTERM handler waits), then tears down.
    if (r.proc) await r.proc.stop(mode === "graceful" ? Math.max(this.graceMs, 1) : 0);
    r.state = "TERMINATED";
    this.runners.delete(r.id);
    await this.persist(r);
    this.wake(r.appId);
  }

  /** Stops idle runners past keep_alive while more are running than min_concurrency. */
  private async reap(): Promise<void> {
    if (this.closed) return;
    const byApp = new Map<string, ManagedRunner[]>();
    for (const r of this.runners.values()) byApp.set(r.appId, [...(byApp.get(r.appId) ?? []), r]);
    for (const [appId, runners] of byApp) {
      const app = await repo.getAppById(this.opts.db, appId);
      if (!app) {
        await Promise.all(runners.map((r) => this.stop(r, "graceful")));
        continue;
      }
      let live = runners.filter((r) => r.state === "IDLE" || r.state === "RUNNING").length;
      // Demand now: what runners hold, plus what waited at the last reconcile if that was recent.
      const q = this.queuedDemand.get(appId);
      const queued = q && Date.now() - q.at < 2000 ? q.queued : 0;
      const inFlight = runners.reduce((n, r) => n + r.inFlight, 0);
      const keep = wantedRunners(app.scaling, runners[0]?.maxMultiplexing ?? 1, inFlight + queued);
      for (const r of runners) {
        if (live <= keep) break;
        if (r.state === "IDLE" && Date.now() - r.lastActive > app.scaling.keep_alive * 1000) {
          live--;
          this.opts.log.info({ runner_id: r.id, app: app.name }, "stopping idle runner (keep_alive passed)");
          void this.stop(r, "graceful");
        }
      }
    }
  }

  private async persist(r: ManagedRunner, error: string | null = null): Promise<void> {
    if (this.closed && r.state !== "TERMINATED") return;
    await repo
      .upsertRunner(this.opts.db, {
        id: r.id,
        app_id: r.appId,
        revision_id: r.revisionId,
        state: r.state,
        machine_type: r.machineType,
        host: this.opts.hostId,
        pid: r.proc?.pid ?? null,
        port: r.proc?.port ?? null,
        error,
      })
      .catch((e) => this.opts.log.warn({ err: String(e) }, "could not record runner state"));
  }

  /** Writes a revision's files from the blob store into its own directory, once. */
  private async materialize(revision: RevisionRow): Promise<string> {
    const dir = join(this.opts.dataDir, "revisions", revision.id);
    if (existsSync(join(dir, ".complete"))) return dir;
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(tmp, { recursive: true });
    for (const [rel, entry] of Object.entries(revision.files)) {
      const target = resolve(tmp, rel);
      if (!target.startsWith(tmp + sep)) throw new Error(`revision ${revision.id}: file path escapes its directory: ${rel}`);
      const content = await repo.getBlob(this.opts.db, entry.hash);
      if (!content) throw new Error(`revision ${revision.id}: file ${rel} (${entry.hash}) is missing from the blob store`);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
      chmodSync(target, entry.mode & 0o777);
    }
    writeFileSync(join(tmp, ".complete"), "");
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return dir;
  }
}

