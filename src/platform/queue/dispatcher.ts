/**
 * Takes queued requests to runners. Each platform process runs one: it claims
 * a request only when one of its runners has a free slot (so a claim is never
 * left waiting), holds it under a renewed lease, and applies fal's retry rules:
 *
 *  - 503: retried on another runner, and that runner is replaced;
 *  - 504 and lost connections: retried on another runner;
 *  - 500/502: not retried; the runner's health is checked;
 *  - 4xx: never retried; X-Fal-No-Retry turns retries off;
 *  - at most 10 retries.
 *
 * It also puts back requests whose holder died (expired leases), answers 504
 * to requests whose X-Fal-Request-Timeout passed before processing started,
 * forwards cancellations, and runs webhook delivery (webhooks.ts).
 *
 * Latency: a request is claimed the moment there is both work and a free
 * runner, with one statement (claimNext) and no other query first:
 *  - a submit in this process calls it directly (queueStore.onQueued);
 *  - a submit or requeue in another process on the same PostgreSQL arrives
 *    as a NOTIFY on the queue channel (Db.listen);
 *  - a runner that became ready or free calls it (RunnerManager.onCapacity),
 *    for apps that may have waiting work.
 * A full pass (waiting work per app, the autoscaler told, claims) follows
 * each of those, and polling every pollMs (1 s; 100 ms while a PostgreSQL
 * listener is down) is the safety net for a lost wake-up.
 *
 * This is where a queued request is routed; a sync request is routed in
 * gateway/calls.ts. How many runners there are is the autoscaler's business
 * (runners/autoscaler.ts): each pass tells it how much work waits per app.
 * The queue talks to runners only through the runner layer (runners/index.ts).
 */
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import type { AppRow } from "../store/repo";
import * as qs from "../store/queueStore";
import type { ClaimedApp, ClaimedRequest, QueueLog } from "../store/queueStore";
import { loadBody, storeBody, type PayloadStore } from "../store/payloadStore";
import type { Autoscaler, Lease, RunnerManager } from "../runners";
import { cancelOnRunner, postToRunner, runnerHealth, type RunnerResponse } from "../runners";
import type { Logger } from "../log";
import type { PlatformMetrics } from "../metrics";
import type { WebhookDelivery } from "./webhooks";

export const MAX_RETRIES = 10;
/** Safety-net poll while wake-ups arrive (PGlite, or PostgreSQL with a live LISTEN). */
const SAFETY_POLL_MS = 1000;
/** Poll while a PostgreSQL listener is down: other processes' submits are found only by polling then. */
const FALLBACK_POLL_MS = 100;
/** How long a runner may take to answer a health check or a cancel. */
const RUNNER_CHECK_TIMEOUT_MS = 5000;
/** Waiting requests of a deleted app failed per pass. */
const FAIL_BATCH = 500;

export interface DispatcherOptions {
  readonly db: Db;
  readonly runners: RunnerManager;
  /** Told each pass how much work waits per app; starts runners for it. */
  readonly autoscaler: Autoscaler;
  /** Delivers webhooks of completed requests; run with the queue's maintenance. */
  readonly webhooks: WebhookDelivery;
  /** Where payloads and results too big for a queue row live. */
  readonly payloads: PayloadStore;
  readonly log: Logger;
  readonly metrics: PlatformMetrics;
  /** This process's lease-owner id: `<hostname>:<pid>`. */
  readonly owner: string;
  /**
   * How often the queue is polled as a safety net (wake-ups normally come
   * from submits, NOTIFY and freed runners). Default 1000 ms; 100 ms while a
   * PostgreSQL listener is not connected.
   */
  readonly pollMs?: number;
  /** Lease length; renewed every third of it. Default 15 s. */
  readonly leaseMs?: number;
}

interface Held {
  readonly row: ClaimedRequest;
  readonly lease: Lease;
  readonly abort: AbortController;
  readonly logs: QueueLog[];
  cancelSent: boolean;
}

export class Dispatcher {
  private readonly held = new Map<string, Held>();
  private timer?: NodeJS.Timeout;
  private maintenance?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  private readonly leaseMs: number;
  /** Apps that may have waiting work: a freed runner of one of these claims at once. */
  private readonly mayWait = new Set<string>();
  private pollEvery = 0;
  /** Fast-path claims in flight; a full pass asked for meanwhile waits for them (deferredKick). */
  private fastClaims = 0;
  private deferredKick = false;
  private readonly unsubscribe: (() => unknown)[] = [];

  constructor(private readonly opts: DispatcherOptions) {
    this.leaseMs = opts.leaseMs ?? 15_000;
  }

  start(): void {
    const { db, runners } = this.opts;
    this.unsubscribe.push(qs.onQueued(db, (appId) => this.queued(appId)));
    this.unsubscribe.push(qs.setDirectClaimer(db, (appId) => this.offerRunner(appId)));
    this.unsubscribe.push(runners.onCapacity((appId) => this.mayWait.has(appId) && this.claimFor(appId)));
    if (db.listen) {
      this.setPoll(FALLBACK_POLL_MS);
      const stop = db.listen(
        qs.QUEUE_CHANNEL,
        (payload) => {
          const appId = qs.queuedNotice(db, payload);
          if (appId) this.queued(appId);
        },
        (listening) => {
          this.setPoll(listening ? SAFETY_POLL_MS : FALLBACK_POLL_MS);
          // Whatever was submitted while no notice could come.
          if (listening) this.kick();
        },
      );
      this.unsubscribe.push(stop);
    } else {
      this.setPoll(SAFETY_POLL_MS);
    }
    this.maintenance = setInterval(() => void this.maintain().catch((e) => this.opts.log.error({ err: String(e) }, "queue maintenance failed")), Math.min(1000, this.leaseMs / 3));
    this.maintenance.unref();
    this.kick();
  }

  private setPoll(defaultMs: number): void {
    const ms = this.opts.pollMs ?? defaultMs;
    if (this.stopped || ms === this.pollEvery) return;
    clearInterval(this.timer);
    this.pollEvery = ms;
    // The safety net never waits for fast claims (kick defers to them): a hung claim must not stop polling.
    this.timer = setInterval(() => this.kick(true), ms);
    this.timer.unref();
  }

  /**
   * A submit in this process: a free runner of the app here is offered, and
   * the request is stored already claimed for it when nothing waits before it
   * (queueStore.DirectClaim): no claim query at all before it is sent.
   */
  private offerRunner(appId: string): qs.DirectClaim | undefined {
    if (this.stopped) return undefined;
    const free = this.opts.runners.list(appId).find((r) => (r.state === "IDLE" || r.state === "RUNNING") && r.inFlight < r.maxMultiplexing);
    const lease = free && this.opts.runners.tryLease(appId, free.revisionId);
    if (!lease) return undefined;
    return {
      runnerId: lease.runner.id,
      revisionId: lease.runner.revisionId,
      owner: this.opts.owner,
      leaseMs: this.leaseMs,
      claimed: (row) => {
        this.opts.metrics.queueWait.observe(0);
        void this.process(row, lease, row.app);
      },
      declined: () => lease.release(),
    };
  }

  /** Work was queued for an app (here, or in another process): claim it for a free runner now, then a full pass. */
  private queued(appId: string): void {
    if (this.stopped) return;
    this.mayWait.add(appId);
    this.claimFor(appId);
    this.kick();
  }

  /**
   * The fast path: claims the app's waiting requests for its runners here
   * that have a free slot, one statement per claim, no other query first.
   */
  private claimFor(appId: string): void {
    if (this.stopped) return;
    const revisions = new Set(
      this.opts.runners
        .list(appId)
        .filter((r) => (r.state === "IDLE" || r.state === "RUNNING") && r.inFlight < r.maxMultiplexing)
        .map((r) => r.revisionId),
    );
    for (const revisionId of revisions) {
      this.fastClaims++;
      void this.claimLoop(appId, revisionId)
        .catch((e) => this.opts.log.error({ err: String(e) }, "queue claim failed"))
        // Once the claimed request is on its way to the runner (its socket write happens on a
        // later tick): only then the deferred full pass, whose queries would otherwise go first
        // on PGlite, which runs them on this thread.
        .then(() => new Promise((r) => setImmediate(r)))
        .finally(() => {
          if (--this.fastClaims === 0 && this.deferredKick) {
            this.deferredKick = false;
            this.kick();
          }
        });
    }
  }

  /** Claims for free runners of the revision until either runs out; false when the app had nothing to claim. */
  private async claimLoop(appId: string, revisionId: string, app?: AppRow): Promise<boolean> {
    for (;;) {
      if (this.stopped) return true;
      const lease = this.opts.runners.tryLease(appId, revisionId);
      if (!lease) return true;
      let row;
      try {
        row = await qs.claimNext(this.opts.db, appId, revisionId, lease.runner.id, this.opts.owner, this.leaseMs);
      } catch (err) {
        lease.release();
        throw err;
      }
      if (!row) {
        lease.release();
        // Nothing it may take (or the revision no longer serves): the next pass looks again.
        if (!app) this.mayWait.delete(appId);
        return false;
      }
      this.opts.metrics.queueWait.observe((Date.now() - new Date(row.created_at).getTime()) / 1000);
      void this.process(row, lease, app ?? row.app);
    }
  }

  /** Stops claiming; requests still held finish (or their leases expire and another process retries them). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.maintenance);
    for (const u of this.unsubscribe.splice(0)) await u();
    const deadline = Date.now() + 10_000;
    while (this.held.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * Runs a dispatch pass now (after a submit, or when a runner frees up);
   * while fast-path claims are sending their requests, just after them.
   */
  kick(force = false): void {
    if (this.stopped) return;
    if (this.fastClaims > 0 && !force) {
      this.deferredKick = true;
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.pass()
      .catch((e) => this.opts.log.error({ err: String(e) }, "dispatch pass failed"))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Lines a runner printed; attributed to its request when it holds exactly one. */
  onRunnerOutput(runnerId: string, stream: "stdout" | "stderr", line: string): void {
    let only: Held | undefined;
    for (const h of this.held.values()) {
      if (h.lease.runner.id !== runnerId) continue;
      if (only) return;
      only = h;
    }
    only?.logs.push({ message: line, level: stream === "stderr" ? "STDERR" : "INFO", source: "user", timestamp: new Date().toISOString() });
  }

  /** Logs of a request this process holds right now (for IN_PROGRESS status). */
  liveLogs(requestId: string): QueueLog[] | undefined {
    return this.held.get(requestId)?.logs;
  }

  /** Forwards a cancel to the runner if this process holds the request. */
  async cancelHeld(requestId: string): Promise<boolean> {
    const h = this.held.get(requestId);
    if (!h) return false;
    await this.sendCancel(h);
    return true;
  }

  private async pass(): Promise<void> {
    const { db, autoscaler } = this.opts;
    const waiting = await qs.waitingByApp(db);
    const seen = new Set(waiting.map((w) => w.app_id));
    for (const id of this.mayWait) if (!seen.has(id)) this.mayWait.delete(id);
    for (const w of waiting) {
      this.mayWait.add(w.app_id);
      const app = await repo.getAppById(db, w.app_id);
      const revision = app?.current_revision ? await repo.getRevision(db, app.current_revision) : undefined;
      if (!app || !revision) {
        await this.failWaitingOf(w.app_id, 404, "the app was deleted or has no active revision", "app_unavailable");
        continue;
      }
      autoscaler.reconcile(app, revision, w.queued, w.oldest_wait_ms);
      await this.claimLoop(app.id, revision.id, app);
    }
  }

  private async process(row: ClaimedRequest, lease: Lease, app: ClaimedApp): Promise<void> {
    const { log: baseLog, metrics } = this.opts;
    const log = baseLog.child({ request_id: row.id, app: app.name, env: app.environment, runner_id: lease.runner.id, attempt: row.attempts });
    const abort = new AbortController();
    const held: Held = { row, lease, abort, logs: [], cancelSent: false };
    this.held.set(row.id, held);
    const started = Date.now();
    const timeout = AbortSignal.timeout(app.scaling.request_timeout * 1000);
    let outcome: "ok" | "error" | "retried" | "timeout" | "cancelled" = "error";
    try {
      // Read only now, by the process that sends it: never by status polls or claims.
      const payload = await loadBody(this.opts.payloads, row.payload, row.payload_ref);
      if (!payload) {
        log.error({ payload_ref: row.payload_ref }, "the stored payload of a queued request is missing");
        await this.finish(held, { status: 500, body: detail("the request's stored payload is missing"), contentType: "application/json", error: "stored payload missing", errorType: "payload_lost" });
        return;
      }
      let res: RunnerResponse;
      try {
        res = await postToRunner(
          lease.url,
          row.path,
          {
            "content-type": row.content_type,
            "x-fal-request-id": row.id,
            "x-fal-endpoint": `${row.owner}/${row.alias}${row.path === "/" ? "" : row.path}`,
            ...(row.caller ? { "x-fal-caller-key-id": row.caller } : {}),
          },
          payload,
          AbortSignal.any([abort.signal, timeout]),
        );
      } catch (err) {
        if (timeout.aborted) {
          outcome = "timeout";
          await this.finish(held, { status: 504, body: detail(`request_timeout (${app.scaling.request_timeout} s) passed while processing`), contentType: "application/json", error: "request_timeout passed", errorType: "request_timeout" });
          return;
        }
        // Lost connection: the runner is gone or broken. Retry elsewhere and replace it.
        log.warn({ err: String((err as { cause?: unknown }).cause ?? err) }, "runner connection lost");
        void this.opts.runners.replace(lease.runner.id, "connection lost");
        outcome = (await this.retryOrFail(held, 502, "the runner connection was lost", "runner_disconnected")) ? "retried" : "error";
        return;
      }
      const body = res.body;
      const contentType = res.contentType;
      metrics.requestDuration.observe({ mode: "queue" }, (Date.now() - started) / 1000);

      if (res.status === 503 || res.status === 504) {
        // 503: the runner is replaced (fal). 504: replaced too, so that the retry has another
        // runner to go to even when max_concurrency allows only one.
        void this.opts.runners.replace(lease.runner.id, `answered ${res.status}`);
        outcome = (await this.retryOrFail(held, res.status, `the runner answered ${res.status}`, "runner_unavailable", { body, contentType })) ? "retried" : "error";
        return;
      }
      if (res.status === 500 || res.status === 502) void this.healthCheck(lease);
      const ok = res.status < 400;
      outcome = held.cancelSent ? "cancelled" : ok ? "ok" : "error";
      await this.finish(held, {
        status: res.status,
        body,
        contentType,
        error: ok ? undefined : errorText(body),
        errorType: ok ? undefined : res.status >= 500 ? "runner_error" : "client_error",
      });
      log.info({ status: res.status, ms: Date.now() - started }, "queue request done");
    } finally {
      this.held.delete(row.id);
      lease.release();
      metrics.outcomes.inc({ mode: "queue", outcome });
      // The freed runner already claims its app's waiting work (onCapacity); a full pass only
      // while some app may have waiting work (else the next poll's pass is soon enough).
      if (this.mayWait.size > 0) this.kick();
    }
  }

  /** Requeues for another runner unless retries are off or used up; true when requeued. */
  private async retryOrFail(
    held: Held,
    status: number,
    why: string,
    errorType: string,
    answer?: { body: Buffer; contentType: string },
  ): Promise<boolean> {
    const { row } = held;
    const retriesUsed = row.attempts - 1;
    if (!row.no_retry && retriesUsed < MAX_RETRIES && !held.cancelSent) {
      const requeued = await qs.requeue(this.opts.db, row.id, this.opts.owner, held.lease.runner.id, held.logs);
      if (requeued) {
        this.opts.log.info({ request_id: row.id, attempt: row.attempts, why }, "request requeued for another runner");
        return true;
      }
    }
    const reason = row.no_retry ? "retries are off (X-Fal-No-Retry)" : `after ${row.attempts} attempt(s)`;
    await this.finish(held, {
      status,
      body: answer?.body.length ? answer.body : detail(`${why}; ${reason}`),
      contentType: answer?.body.length ? answer.contentType : "application/json",
      error: `${why}; ${reason}`,
      errorType,
    });
    return false;
  }

  private async finish(held: Held, c: Omit<qs.Completion, "logs" | "body"> & { body: Buffer }): Promise<void> {
    // A big result goes to the payload store before the row that points to it.
    const body = await storeBody(this.opts.payloads, held.row.id, "result", c.body);
    const done = await qs.complete(this.opts.db, held.row.id, this.opts.owner, { ...c, body, logs: held.logs });
    if (!done) this.opts.log.warn({ request_id: held.row.id }, "lease lost before completion; another process retries the request");
  }

  private async failWaitingOf(appId: string, status: number, why: string, errorType: string): Promise<void> {
    for (const id of await qs.waitingIds(this.opts.db, appId, FAIL_BATCH)) {
      await qs.completeWaiting(this.opts.db, id, { status, body: small(detail(why)), contentType: "application/json", error: why, errorType });
    }
  }

  /** After a 500/502: a runner that does not answer its health check with 200 is replaced. */
  private async healthCheck(lease: Lease): Promise<void> {
    try {
      const status = await runnerHealth(lease.url, RUNNER_CHECK_TIMEOUT_MS);
      if (status !== 200) await this.opts.runners.replace(lease.runner.id, `health check answered ${status}`);
    } catch {
      await this.opts.runners.replace(lease.runner.id, "health check failed");
    }
  }

  private async sendCancel(h: Held): Promise<void> {
    if (h.cancelSent) return;
    h.cancelSent = true;
    try {
      await cancelOnRunner(h.lease.url, h.row.id, RUNNER_CHECK_TIMEOUT_MS);
    } catch (err) {
      this.opts.log.warn({ request_id: h.row.id, err: String(err) }, "could not deliver cancel to the runner");
    }
  }

  /** Lease renewal, cancellations, expired leases and start deadlines, queue depth, webhooks. */
  private async maintain(): Promise<void> {
    const { db, log } = this.opts;
    const cancels = await qs.renewLeases(db, this.opts.owner, [...this.held.keys()], this.leaseMs);
    for (const id of cancels) {
      const h = this.held.get(id);
      if (h) await this.sendCancel(h);
    }
    const requeued = await qs.requeueExpired(db);
    if (requeued.length) {
      log.warn({ requests: requeued.length }, "requeued requests whose holder stopped renewing its lease");
      this.kick();
    }
    for (const id of await qs.expiredStartDeadlines(db)) {
      const why = "X-Fal-Request-Timeout passed before processing started";
      if (await qs.completeWaiting(db, id, { status: 504, body: small(detail(why)), contentType: "application/json", error: why, errorType: "request_timeout_user" })) {
        this.opts.metrics.outcomes.inc({ mode: "queue", outcome: "timeout" });
      }
    }
    const depth = new Map((await qs.queueDepth(db)).map((d) => [d.status, d.n]));
    for (const st of ["IN_QUEUE", "IN_PROGRESS"]) this.opts.metrics.queueDepth.set({ status: st }, depth.get(st) ?? 0);
    await this.opts.webhooks.deliverDue();
  }
}

/** A body the platform wrote itself: always small enough to stay inline. */
function small(bytes: Buffer): qs.Completion["body"] {
  return { inline: bytes, ref: null, size: bytes.length };
}

function detail(message: string): Buffer {
  return Buffer.from(JSON.stringify({ detail: message }));
}

function errorText(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { detail?: unknown };
    if (parsed && typeof parsed.detail === "string") return parsed.detail;
  } catch {
    // Not JSON.
  }
  return body.toString("utf8").slice(0, 2000);
}

