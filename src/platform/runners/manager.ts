/**
 * The runner manager: the mechanics of an app's runners. It starts them on a
 * backend (backend.ts) and stops them, hands out leases (at most
 * max_multiplexing requests per runner), keeps crash-backoff bookkeeping,
 * drains old revisions after a switch, and records runner state. It decides
 * nothing about how many runners there should be: that is the autoscaler's
 * (autoscaler.ts), whose rules it applies where a sync call waits for a slot.
 *
 * Runner state lives in memory (this process owns its runners) and is
 * mirrored to the runners table so the API and falctl can show it.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import * as runnerStore from "../store/runnerStore";
import type { AppRow, RevisionRow } from "../store/repo";
import type { Logger } from "../log";
import { MACHINE_TYPES } from "../../model/catalog";
import { NoCapacityError, RunnerStartError, type RunnerBackend, type StartedRunner } from "./backend";
import { crashBackoffMs, regionAllows, runnersToPreempt, shouldStartForSyncCall } from "./autoscaler";
import { CapacityWaiters } from "./capacityWaiters";
import { materializeRevision } from "./materialize";

export type RunnerState =
  | "PENDING"
  | "BUILDING"
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
  /** GPUs it needs (its machine type's count × num_gpus); held from launch until its process group is gone. */
  readonly gpus: number;
  state: RunnerState;
  /** Why it is PENDING (waiting for capacity); undefined otherwise. */
  reason?: string;
  inFlight: number;
  lastActive: number;
  /** What the backend started; absent until the backend has launched it. */
  proc?: StartedRunner;
  readonly ready: Promise<void>;
}

export interface Lease {
  readonly runner: ManagedRunner;
  readonly url: string;
  release(): void;
}

export interface RunnerManagerOptions {
  readonly db: Db;
  readonly backend: RunnerBackend;
  /** Revisions' files are written under `<dataDir>/revisions/`. */
  readonly dataDir: string;
  /** `<hostname>:<pid>` of this process, recorded with each runner (start-up recovery reads it). */
  readonly hostId: string;
  readonly log: Logger;
  /** SIGTERM → SIGKILL grace period for runners. Default 5 s. */
  readonly graceMs?: number;
  /** Where a revision's Python environment comes from (builds/builder.ts). */
  readonly environments: RevisionEnvironments;
  /** Region of this platform process, recorded with each runner. Default `local`. */
  readonly region?: string;
}

/** The interpreter of a revision's own Python environment, built (or joined) when missing. */
export interface RevisionEnvironments {
  pythonFor(revision: RevisionRow): Promise<string>;
}

/** States in which a runner counts towards its app (not draining or gone). */
export const ACTIVE_STATES: readonly RunnerState[] = ["PENDING", "BUILDING", "SETUP", "IDLE", "RUNNING"];

interface Backoff {
  failures: number;
  until: number;
  /** First line of the last start failure, for the callers it turns away. */
  error: string;
}

export interface AcquireOptions {
  /**
   * Ends the wait (the request's deadline, its caller hanging up). Read only
   * when there is something to wait for: a getter that makes its signal on
   * first use costs nothing when a runner is free at once.
   */
  readonly signal?: AbortSignal;
  /** Whether the revision still serves the app; asked at each wake-up. Default: always. */
  readonly stillServing?: () => Promise<boolean>;
}

/** The revision cannot serve now: its runners keep failing setup and none is left or starting. */
export class RevisionUnavailableError extends Error {
  constructor(
    readonly revisionId: string,
    readonly failures: number,
    readonly retryAfterS: number,
    lastError: string,
  ) {
    super(
      `revision ${revisionId} is in crash backoff: its runners failed setup ${failures} time(s) in a row ` +
        `(last: ${lastError}); the next start is in ${retryAfterS} s`,
    );
    this.name = "RevisionUnavailableError";
  }
}

/**
 * A runner could not be placed within its startup_timeout: the GPUs it needs
 * stayed taken. Not a crash: it starts no crash backoff.
 */
export class CapacityError extends Error {
  constructor(
    readonly runnerId: string,
    readonly waitedS: number,
    readonly reason: string,
  ) {
    super(
      `runner ${runnerId} could not be placed within startup_timeout (${waitedS} s): ${reason}. ` +
        "Free capacity (lower other apps' min_concurrency, stop idle apps, add GPUs) or, for a deploy on a full pool, use strategy: recreate",
    );
    this.name = "CapacityError";
  }
}

/** The app's `regions` exclude this platform process's region: its runners are placed elsewhere. */
export class NotPlaceableHereError extends Error {
  constructor(app: string, regions: readonly string[], region: string) {
    super(`app ${app} runs only in region(s) ${regions.join(", ")}; this platform process serves region ${region}`);
    this.name = "NotPlaceableHereError";
  }
}

/** The app already has as many active runners as it may, counted across platform processes; nothing was started. */
export class RunnerSlotTakenError extends Error {
  constructor(app: string, limit: number) {
    super(`app ${app} already has ${limit} active runner(s) across the platform's processes`);
    this.name = "RunnerSlotTakenError";
  }
}

/** The alias moved off the revision a call was waiting for; the call resolves the app again. */
export class RevisionSupersededError extends Error {
  constructor(readonly revisionId: string) {
    super(`revision ${revisionId} no longer serves its app`);
    this.name = "RevisionSupersededError";
  }
}

export class RunnerManager {
  private readonly runners = new Map<string, ManagedRunner>();
  /** Consecutive start failures per revision (CRASH_BACKOFF). */
  private readonly backoff = new Map<string, Backoff>();
  private readonly waiters = new CapacityWaiters();
  private readonly capacityListeners = new Set<(appId: string) => void>();
  private readonly graceMs: number;
  private closed = false;

  constructor(private readonly opts: RunnerManagerOptions) {
    this.graceMs = opts.graceMs ?? 5000;
  }

  /**
   * Calls fn with an app's id whenever capacity for it may have appeared (a
   * runner became ready, a lease was released, a runner stopped or died): the
   * queue dispatcher claims waiting work for it at once instead of at its
   * next poll. Returns the unsubscribe.
   */
  onCapacity(fn: (appId: string) => void): () => void {
    this.capacityListeners.add(fn);
    return () => this.capacityListeners.delete(fn);
  }

  private wake(appId: string): void {
    this.waiters.wake(appId);
    for (const fn of this.capacityListeners) fn(appId);
  }

  countByState(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.runners.values()) m.set(r.state, (m.get(r.state) ?? 0) + 1);
    return m;
  }

  list(appId: string): ManagedRunner[] {
    return [...this.runners.values()].filter((r) => r.appId === appId);
  }

  /** Every runner this process holds, in the order they started. */
  all(): ManagedRunner[] {
    return [...this.runners.values()];
  }

  /**
   * A lease on a runner of `revision` with free capacity, starting a runner
   * when none has any and the autoscaler's sync-call rule allows; otherwise
   * waits for one (until `signal` aborts). Fails fast instead of waiting for
   * nothing: RevisionUnavailableError when the revision is in crash backoff
   * with no runner left or starting, RevisionSupersededError when
   * `stillServing` says the alias moved to another revision meanwhile.
   */
  async acquire(app: AppRow, revision: RevisionRow, opts: AcquireOptions = {}): Promise<Lease> {
    const { stillServing } = opts;
    if (!this.placeableHere(app)) throw new NotPlaceableHereError(app.name, app.scaling.regions, this.region);
    for (let wakeUps = 0; ; wakeUps++) {
      if (wakeUps > 0 && opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
      const free = this.tryLease(app.id, revision.id);
      if (free) return free;
      // The first look reads no signal when a runner is free; after a wake-up it was read above.
      const signal = opts.signal;
      if (wakeUps === 0 && signal?.aborted) throw signal.reason ?? new Error("aborted");
      if (wakeUps > 0 && stillServing && !(await stillServing())) throw new RevisionSupersededError(revision.id);

      const active = this.list(app.id).filter((r) => r.revisionId === revision.id && ACTIVE_STATES.includes(r.state));
      const backoff = this.backoff.get(revision.id);
      if (active.length === 0 && backoff && this.inBackoff(revision.id)) {
        throw new RevisionUnavailableError(revision.id, backoff.failures, this.backoffRemaining(revision.id), backoff.error);
      }
      const start = shouldStartForSyncCall({
        active: active.length,
        starting: active.filter((r) => r.state === "PENDING" || r.state === "BUILDING" || r.state === "SETUP").length,
        waiting: this.waiters.count(app.id) + 1,
        maxConcurrency: app.scaling.max_concurrency,
        maxMultiplexing: revision.code_settings.max_multiplexing,
      });
      if (start && !this.inBackoff(revision.id)) this.startRunner(app, revision);
      await this.waiters.wait(app.id, signal);
    }
  }

  /** A lease on a ready runner of the revision with a free slot, not among `exclude`; no waiting. */
  tryLease(appId: string, revisionId: string, exclude: readonly string[] = []): Lease | undefined {
    // A loop over the map, not list(): this runs on every gateway call.
    for (const r of this.runners.values()) {
      if (
        r.appId === appId &&
        r.revisionId === revisionId &&
        (r.state === "IDLE" || r.state === "RUNNING") &&
        r.inFlight < r.maxMultiplexing &&
        !exclude.includes(r.id)
      ) {
        return this.lease(r);
      }
    }
    return undefined;
  }

  /** Stops a runner that answered 503 or failed its health check; demand starts a replacement. */
  async replace(runnerId: string, reason: string): Promise<void> {
    const r = this.runners.get(runnerId);
    if (!r) return;
    this.opts.log.warn({ runner_id: runnerId, reason }, "replacing runner");
    await this.stopRunner(r, "force");
  }

  /** Restarts every runner of an app (a rollout): graceful lets them finish what they hold. */
  async rollout(appId: string, mode: "graceful" | "force"): Promise<number> {
    const rs = this.list(appId);
    await Promise.all(rs.map((r) => this.stopRunner(r, mode)));
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

  /** Whether the revision's runners failed setup recently enough that none may start now. */
  inBackoff(revisionId: string): boolean {
    return this.backoffRemaining(revisionId) > 0;
  }

  /** Starts a runner and resolves once it is healthy; rejects with RunnerStartError otherwise. */
  async startAndWait(app: AppRow, revision: RevisionRow): Promise<ManagedRunner> {
    // A rolling switch's surge runner comes on top of the app's runners, as in Knative.
    const r = this.startRunner(app, revision, Number.MAX_SAFE_INTEGER);
    await r.ready;
    return r;
  }

  /** Gracefully stops every runner of the app not on keepRevisionId. */
  async drainOthers(appId: string, keepRevisionId: string | null): Promise<void> {
    await Promise.all(
      this.list(appId)
        .filter((r) => r.revisionId !== keepRevisionId)
        .map((r) => this.stopRunner(r, "graceful")),
    );
  }

  async stopApp(appId: string): Promise<void> {
    await this.drainOthers(appId, null);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.runners.values()].map((r) => this.stopRunner(r, "graceful")));
  }

  killAll(): void {
    this.opts.backend.killAll();
  }

  /**
   * Starts a runner of the revision and returns it at once, PENDING; its
   * `ready` settles when it is healthy or has failed (a failure is recorded,
   * starts crash backoff, and needs no handler). `limit` bounds the app's
   * active runners across every platform process of the database (default
   * max_concurrency); when they are already that many, the runner is not
   * started and `ready` rejects with RunnerSlotTakenError (no backoff).
   */
  /** Region of this platform process (`--region`). */
  get region(): string {
    return this.opts.region ?? "local";
  }

  /** Whether this process may place runners of the app (its `regions` allow this process's region). */
  placeableHere(app: AppRow): boolean {
    // A backend that places runners by the app's regions itself (Kubernetes node affinity) hosts every app.
    return this.opts.backend.placesRegions === true || regionAllows(app.scaling.regions, this.region);
  }

  startRunner(app: AppRow, revision: RevisionRow, limit = app.scaling.max_concurrency): ManagedRunner {
    const id = randomUUID();
    const machineType =
      revision.code_settings.machine_types.find((t) => this.opts.backend.canHost(t)) ??
      revision.code_settings.machine_types[0];
    const runner = newRunner(id, app, revision, machineType, "PENDING");
    (runner as { ready: Promise<void> }).ready = this.boot(runner, app, revision, limit);
    runner.ready.catch(() => undefined);
    this.runners.set(id, runner);
    return runner;
  }

  /**
   * Takes over a runner that a backend found already running and healthy (a
   * Pod a previous platform process started): from now on it is an IDLE
   * runner of the revision, leased, drained and stopped like the others.
   */
  async adopt(app: AppRow, revision: RevisionRow, proc: StartedRunner, machineType: string): Promise<ManagedRunner> {
    const runner: ManagedRunner = { ...newRunner(proc.id, app, revision, machineType, "IDLE"), proc, ready: Promise.resolve() };
    this.runners.set(runner.id, runner);
    await this.persist(runner);
    void proc.exited.then((exit) => this.onExit(runner, exit.code, exit.signal));
    this.wake(app.id);
    return runner;
  }

  /**
   * Stops a runner. Graceful: it takes no new leases, finishes what it holds
   * (bounded by request_timeout), then gets SIGTERM and the grace period.
   * Force: SIGKILL now.
   */
  async stopRunner(r: ManagedRunner, mode: "graceful" | "force"): Promise<void> {
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

  private async boot(runner: ManagedRunner, app: AppRow, revision: RevisionRow, limit: number): Promise<void> {
    const log = this.opts.log.child({ runner_id: runner.id, app: app.name, env: app.environment });
    if (!this.placeableHere(app)) {
      runner.state = "TERMINATED";
      this.runners.delete(runner.id);
      throw new NotPlaceableHereError(app.name, app.scaling.regions, this.region);
    }
    const reserved = await runnerStore.reserveRunnerSlot(this.opts.db, this.rowOf(runner, null), limit, ACTIVE_STATES).catch((err) => {
      log.warn({ err: String(err) }, "could not record a new runner");
      return false;
    });
    if (!reserved) {
      // Other processes already run as many runners of the app as it may have: not a failure.
      runner.state = "TERMINATED";
      this.runners.delete(runner.id);
      this.wake(app.id);
      throw new RunnerSlotTakenError(app.name, limit);
    }
    try {
      // The revision's environment is usually ready (the deploy waited for its build);
      // a runner of a revision whose environment was collected or never built waits here.
      runner.state = "BUILDING";
      // Independent of each other: together, not one after the other (cold start).
      // Secrets reach a runner as environment variables when it starts; a change needs a rollout.
      const [, python, workDir, secrets] = await Promise.all([
        this.persist(runner),
        this.opts.environments.pythonFor(revision),
        materializeRevision(this.opts.db, this.opts.dataDir, revision),
        repo.secretValues(this.opts.db, app.owner, app.environment),
      ]);
      if (runner.state !== "BUILDING") throw new Error("stopped while its environment was being built");
      let proc: StartedRunner | undefined;
      while (!proc) {
        await this.place(runner, revision, log);
        runner.state = "SETUP";
        runner.reason = undefined;
        proc = await this.opts.backend
          .start({
            runnerId: runner.id,
            workDir,
            entrypoint: revision.source_object,
            python,
            env: { ...secrets, FAL_APP_NAME: app.name, FAL_ENVIRONMENT: app.environment, FAL_REVISION: revision.id },
            gpus: runner.gpus,
            machineType: runner.machineType,
            startupTimeoutMs: revision.code_settings.startup_timeout * 1000,
            appId: app.id,
            appName: app.name,
            revisionId: revision.id,
            regions: app.scaling.regions,
            image: revision.code_settings.image,
            // A runner the backend launched but could not place yet (a Pod the scheduler refuses) is PENDING with the reason.
            onPending: (reason) => {
              if (runner.state !== "SETUP" && runner.state !== "PENDING") return;
              runner.state = reason ? "PENDING" : "SETUP";
              runner.reason = reason;
              void this.persist(runner);
            },
          })
          // Another start took the GPUs between the look and the launch: wait again.
          .catch((err) => {
            if (!(err instanceof NoCapacityError)) throw err;
            if (runner.state === "SETUP") runner.state = "PENDING";
            return undefined;
          });
      }
      runner.proc = proc;
      await this.persist(runner);
      log.info({ pid: proc.pid, port: proc.port }, "runner starting");
      await proc.ready;
      if (runner.state !== "SETUP") return; // stopped while starting
      runner.state = "IDLE";
      runner.lastActive = Date.now();
      this.backoff.delete(revision.id);
      void proc.exited.then((exit) => this.onExit(runner, exit.code, exit.signal));
      // The row is written as IDLE (taken now, before a lease changes the state), but waiting
      // calls and the queue get the runner at once, not after the write (cold start).
      const saved = this.persist(runner);
      this.wake(app.id);
      await saved;
      log.info({ setup_ms: Date.now() - runner.startedAt }, "runner ready");
    } catch (err) {
      runner.state = "DEAD";
      this.runners.delete(runner.id);
      if (err instanceof CapacityError) {
        // Lack of capacity is not a crash: no backoff, and demand may start another attempt.
        await this.persist(runner, err.message);
        log.warn({ reason: err.reason }, "runner could not be placed within startup_timeout");
        this.wake(app.id);
        throw err;
      }
      const failures = (this.backoff.get(revision.id)?.failures ?? 0) + 1;
      const error = lastFailureLine(err);
      this.backoff.set(revision.id, { failures, until: Date.now() + crashBackoffMs(failures), error });
      await this.persist(runner, err instanceof Error ? err.message : String(err));
      log.warn({ err: err instanceof RunnerStartError ? err.message.split("\n")[0] : String(err) }, "runner failed to start");
      this.wake(app.id);
      throw err;
    }
  }

  /**
   * Waits until the backend has the GPUs the runner needs, as a PENDING runner
   * with the reason, bounded by startup_timeout (counted from the runner's
   * start). While it waits, idle runners of other revisions that their apps'
   * min_concurrency does not keep are preempted (the autoscaler decides which).
   */
  private async place(runner: ManagedRunner, revision: RevisionRow, log: Logger): Promise<void> {
    const { backend } = this.opts;
    const deadline = runner.startedAt + revision.code_settings.startup_timeout * 1000;
    for (;;) {
      if (runner.state !== "PENDING" && runner.state !== "BUILDING") throw new Error("stopped while waiting for capacity");
      // Per GPU type where the backend has types (Kubernetes); the local backend has one pool.
      const cap = backend.gpuCapacity(runner.machineType);
      if (runner.gpus <= cap.free) return;
      if (runner.gpus > cap.total) {
        const where = backend.name === "local" ? "this machine has" : `the ${backend.name} backend's nodes have`;
        throw new CapacityError(runner.id, 0, `it needs ${runner.gpus} GPU(s) of ${runner.machineType}; ${where} ${cap.total}`);
      }
      const reason = `waiting for ${runner.gpus} GPU${runner.gpus === 1 ? "" : "s"} of ${runner.machineType}; ${cap.free} of ${cap.total} free`;
      if (Date.now() >= deadline) throw new CapacityError(runner.id, revision.code_settings.startup_timeout, reason);
      if (runner.reason !== reason) {
        runner.state = "PENDING";
        runner.reason = reason;
        await this.persist(runner);
        log.info({ reason }, "runner waits for capacity");
      }
      await this.preemptFor(runner, cap.free, log);
      await backend.capacityChanged(Math.min(1000, deadline - Date.now()));
    }
  }

  /**
   * Drains the idle runners the autoscaler picks so that `runner` gets its
   * GPUs: only runners whose GPUs it could get (the same GPU type, on a
   * backend whose GPUs come in types).
   */
  private async preemptFor(runner: ManagedRunner, free: number, log: Logger): Promise<void> {
    const { backend } = this.opts;
    const competes = (r: ManagedRunner) => r.gpus > 0 && !!r.proc && (backend.sharesGpus?.(r.machineType, runner.machineType) ?? true);
    const holders = this.all().filter(competes);
    if (holders.length === 0) return;
    const mins = new Map<string, number>();
    for (const appId of new Set(holders.map((r) => r.appId))) {
      mins.set(appId, (await repo.getAppById(this.opts.db, appId))?.scaling.min_concurrency ?? 0);
    }
    // Looked up after the awaits: the states below are current.
    const victims = runnersToPreempt(
      this.all().filter(competes),
      runner.gpus - free,
      runner.revisionId,
      (appId) => mins.get(appId) ?? 0,
    );
    for (const v of victims) {
      log.info({ preempted: v.id, preempted_app: v.appId }, "preempting an idle runner for its GPUs");
      void this.stopRunner(v, "graceful");
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
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- a method (not an arrow assigned to a name) is cheaper per lease under tsx
    const manager = this;
    return {
      runner: r,
      url: r.proc!.url,
      release() {
        if (released) return;
        released = true;
        r.inFlight--;
        r.lastActive = Date.now();
        if (r.state === "RUNNING" && r.inFlight === 0) r.state = "IDLE";
        manager.wake(r.appId);
      },
    };
  }

  private async persist(r: ManagedRunner, error: string | null = null): Promise<void> {
    if (this.closed && r.state !== "TERMINATED") return;
    await repo.upsertRunner(this.opts.db, this.rowOf(r, error)).catch((e) => this.opts.log.warn({ err: String(e) }, "could not record runner state"));
  }

  private rowOf(r: ManagedRunner, error: string | null) {
    return {
      id: r.id,
      app_id: r.appId,
      revision_id: r.revisionId,
      state: r.state,
      machine_type: r.machineType,
      host: this.opts.hostId,
      pid: r.proc?.pid ?? null,
      port: r.proc?.port ?? null,
      error,
      reason: r.state === "PENDING" ? (r.reason ?? null) : null,
      region: this.region,
    };
  }
}

/** What a caller turned away should read: the app's own last line (its exception) when it printed one. */
function lastFailureLine(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
  const output = err instanceof RunnerStartError ? err.output.trim().split("\n").filter((l) => l.trim()) : [];
  return output.length ? `${message}: ${output[output.length - 1].trim().slice(0, 500)}` : message;
}

/** A runner of `revision` as the manager first records it; `ready` is set by whoever starts or adopts it. */
function newRunner(id: string, app: AppRow, revision: RevisionRow, machineType: string, state: "PENDING" | "IDLE"): ManagedRunner {
  return {
    // A GPU machine type has its GPU count; num_gpus multiplies it.
    gpus: (MACHINE_TYPES[machineType]?.gpus ?? 0) * Math.max(1, revision.code_settings.num_gpus),
    id,
    appId: app.id,
    revisionId: revision.id,
    machineType,
    maxMultiplexing: revision.code_settings.max_multiplexing,
    requestTimeoutMs: app.scaling.request_timeout * 1000,
    startedAt: Date.now(),
    state,
    inFlight: 0,
    lastActive: Date.now(),
    ready: undefined as unknown as Promise<void>,
  };
}
