/**
 * The gateway's handlers, independent of how a call arrived: directly
 * (/run/..., /queue/...) or through the fal client's proxy convention
 * (any method to /fal/proxy with the real target in x-fal-target-url;
 * routes.ts maps HTTP onto these).
 *
 * Where a request goes:
 *  - a sync request is routed here, in syncCall: resolve the app and its
 *    active revision, take a lease on a runner with a free slot (the runner
 *    manager starts one when the autoscaler's sync-call rule says so, else
 *    the call waits, up to request_timeout), POST to the runner, answer.
 *    Never retried.
 *  - a queued request is only stored here (submit); queue/dispatcher.ts
 *    takes it to a runner, with retries, and webhooks follow from there.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Db } from "../store/db";
import type { AppRow, KeyRow } from "../store/repo";
import * as qs from "../store/queueStore";
import type { Dispatcher } from "../queue/dispatcher";
import { exchangeWithRunner, NotPlaceableHereError, RevisionSupersededError, RevisionUnavailableError, type Lease, type RunnerManager } from "../runners";
import type { Logger } from "../log";
import type { PlatformMetrics } from "../metrics";
import { PlatformError } from "../errors";
import { parseAliasName } from "../../model/catalog";
import { authorizeCall, callRefusal } from "./auth";
import { parseRequestTimeoutHeader } from "./callHeaders";
import type { ResolveCache } from "./resolveCache";
import type { UsageRecorder } from "./usage";
import { checkWebhookUrl, type WebhookPolicy } from "../queue/webhookTarget";
import { loadBody, storeBody, type PayloadStore } from "../store/payloadStore";
import { isExpired, type RequestLimits } from "./limits";
import { addedToQuota, checkSubmitQuota } from "../queue/ownerQuota";
import { CallDeadline, type CallerGone } from "./callSignals";

export interface GatewayCall {
  readonly method: string;
  readonly owner: string;
  readonly alias: string;
  /** Path after owner/alias, always starting with "/". */
  readonly subpath: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Base URL of the queue as the caller reached it, for response_url etc. */
  readonly queueBase: string;
  readonly key: KeyRow | undefined;
  /** The caller closing its connection before the answer (sync and streaming calls). */
  readonly clientGone?: CallerGone;
}

export interface GatewayAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: Buffer | object;
  /**
   * The call writes its own access line (`sync request`, `stream request`,
   * with its request and runner ids), so the server's generic `http request`
   * line is left out: one info line per call.
   */
  readonly accessLogged?: boolean;
  /**
   * Bookkeeping the caller's answer need not wait for (the access line, the
   * duration metric): whoever writes the answer calls it right after.
   */
  readonly after?: () => void;
}

export interface GatewayDeps {
  readonly db: Db;
  readonly runners: RunnerManager;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly metrics: PlatformMetrics;
  readonly cache: ResolveCache;
  readonly usage: UsageRecorder;
  /** Where queued requests' webhooks may go. */
  readonly webhookPolicy: WebhookPolicy;
  /** Where bodies too big for a queue row live. */
  readonly payloads: PayloadStore;
  readonly limits: RequestLimits;
}

const FORWARDED = ["content-type", "accept", "user-agent"];
const REQUEST_PATH = /^\/requests\/([^/]+)(\/status|\/cancel)?\/?$/;

/** The call's app with a deployed revision, the caller allowed to call it; else the gateway's 404 / 401 / 403. */
export async function resolveApp(deps: GatewayDeps, call: GatewayCall): Promise<AppRow> {
  const { app: name, environment } = parseAliasName(call.alias);
  const app = await deps.cache.app(call.owner, name, environment);
  if (!app || !app.current_revision) throw new PlatformError(404, "not_found", `no deployed app '${call.owner}/${call.alias}'`);
  authorizeCall(app, call.key);
  return app;
}

/** Synchronous call: waits for the runner's answer; never retried. */
export async function syncCall(deps: GatewayDeps, call: GatewayCall): Promise<GatewayAnswer> {
  const opened = await openCall(deps, call, "sync");
  return new Promise((resolve, reject) => callRunner(deps, call, opened, (err, answer) => (err ? reject(err) : resolve(answer!))));
}

/**
 * The runner's half of a sync call, with a callback rather than a promise
 * (the gateway's fast path answers from it directly): POSTs the call to the
 * leased runner, releases the lease, and hands `done` the runner's answer or
 * the gateway's error, 504 past request_timeout, 502 when the runner did not
 * answer. `done` is called once and must not throw.
 */
export function callRunner(deps: GatewayDeps, call: GatewayCall, opened: OpenCall, done: (err: PlatformError | undefined, answer?: GatewayAnswer) => void): void {
  const { app, lease, requestId, log, timeout } = opened;
  const started = Date.now();
  const headers = runnerHeaders(call, requestId);
  exchangeWithRunner(lease.url, call.subpath, headers, call.body.length > 0 ? call.body : Buffer.from("{}"), timeout, (err, res) => {
    lease.release();
    if (err || !res) {
      const timedOut = timeout.expired;
      deps.metrics.outcomes.inc({ mode: "sync", outcome: timedOut ? "timeout" : "error" });
      if (timedOut) return done(new PlatformError(504, "timeout", `request_timeout (${app.scaling.request_timeout} s) passed`));
      log.warn({ err: String(err), runner_id: lease.runner.id }, "runner connection failed");
      return done(new PlatformError(502, "runner_unavailable", "the runner did not answer"));
    }
    const ms = Date.now() - started;
    deps.metrics.outcomes.inc({ mode: "sync", outcome: res.status < 400 ? "ok" : "error" });
    done(undefined, {
      status: res.status,
      headers: { "x-fal-request-id": requestId, "content-type": res.contentType },
      body: res.body,
      accessLogged: true,
      // Method shorthand, here and below: an arrow bound to a name gets a per-call name-setting helper under tsx.
      after() {
        deps.metrics.requestDuration.observe({ mode: "sync" }, ms / 1000);
        // The call's one access line (the server's own is left out: accessLogged).
        log.info({ method: call.method, endpoint: headers["x-fal-endpoint"], status: res.status, ms, runner_id: lease.runner.id }, "sync request");
      },
    });
  });
}

/**
 * openCall when it needs neither the database nor a wait: the key already
 * checked (`call.key`), the app's routing and its revision in the cache, the
 * caller allowed, a runner slot free here. Undefined otherwise, having
 * changed nothing: the call then takes openCall, which answers it the same
 * way with the work this skips (and the errors: 404, 401, 403, waiting).
 */
export function openCallNow(deps: GatewayDeps, call: GatewayCall): OpenCall | undefined {
  if (call.clientGone?.aborted) return undefined;
  const { app: name, environment } = parseAliasName(call.alias);
  const app = deps.cache.appNow(call.owner, name, environment);
  if (!app?.current_revision || callRefusal(app, call.key)) return undefined;
  const revision = deps.cache.revisionNow(app.current_revision);
  if (!revision || !deps.runners.placeableHere(app)) return undefined;
  const lease = deps.runners.tryLease(app.id, revision.id);
  if (!lease) return undefined;
  const { requestId, log, timeout } = startCall(deps, call, app);
  return { app, lease: releasing(lease, timeout), requestId, log, timeout };
}

/** What every routed call starts with: the caller's usage recorded, a request id, its logger, its deadline from now. */
function startCall(deps: GatewayDeps, call: GatewayCall, app: AppRow): { requestId: string; log: Logger; timeout: CallDeadline } {
  if (call.key) deps.usage.record(app.id, call.key.key_id);
  const requestId = randomUUID();
  return {
    requestId,
    log: deps.log.child({ request_id: requestId, app: app.name, env: app.environment }),
    timeout: new CallDeadline(app.scaling.request_timeout * 1000, call.clientGone),
  };
}

/** The lease, whose release also stops the call's deadline. */
function releasing(lease: Lease, timeout: CallDeadline): Lease {
  return {
    ...lease,
    release() {
      timeout.clear();
      lease.release();
    },
  };
}

/** A sync or streaming call with its runner lease: what both do before they talk to the runner. */
export interface OpenCall {
  /** The app as it is when the lease was taken (the alias may have moved while the call waited). */
  readonly app: AppRow;
  /** Releasing it also stops the deadline's timer. */
  readonly lease: Lease;
  readonly requestId: string;
  readonly log: Logger;
  /** request_timeout of the call, from its arrival: it bounds the wait and the answer. */
  readonly timeout: CallDeadline;
}

/**
 * Resolves the app, records the caller's usage and takes a lease on a runner
 * of the active revision: waiting counts against request_timeout (the caller
 * holds a connection); the caller hanging up ends the wait too (nobody would
 * read the answer, and its demand must not keep runners starting); a call
 * that waits while the alias moves (a rollback, a deploy) follows it to the
 * new revision; a revision that cannot serve fails fast.
 */
export async function openCall(deps: GatewayDeps, call: GatewayCall, mode: "sync" | "stream"): Promise<OpenCall> {
  const first = await resolveApp(deps, call);
  const { requestId, log, timeout } = startCall(deps, call, first);
  try {
    const { app, lease } = await acquireLease(deps, call, first, mode, timeout, log);
    return { app, lease: releasing(lease, timeout), requestId, log, timeout };
  } catch (err) {
    timeout.clear();
    throw err;
  }
}

async function acquireLease(
  deps: GatewayDeps,
  call: GatewayCall,
  first: AppRow,
  mode: "sync" | "stream",
  timeout: CallDeadline,
  log: Logger,
): Promise<{ app: AppRow; lease: Lease }> {
  // A caller that left before its call got this far is not given a runner.
  if (call.clientGone?.aborted) throw hungUp(deps, mode, log);
  let app = first;
  let lease: Lease | undefined;
  while (!lease) {
    const revision = await deps.cache.revision(app.current_revision!);
    if (!revision) throw new PlatformError(404, "not_found", `the active revision of '${call.owner}/${call.alias}' is gone`);
    const options = {
      // Made only if the call has to wait for a runner (callSignals.ts): the common call never does.
      get signal() {
        return timeout.signal;
      },
      async stillServing() {
        return (await deps.cache.app(app.owner, app.name, app.environment))?.current_revision === revision.id;
      },
    };
    lease = await deps.runners.acquire(app, revision, options).catch(async (err) => {
      if (err instanceof RevisionSupersededError) {
        app = await resolveApp(deps, call);
        return undefined;
      }
      if (err instanceof NotPlaceableHereError) throw new PlatformError(503, "not_in_region", err.message);
      if (err instanceof RevisionUnavailableError) {
        deps.metrics.outcomes.inc({ mode, outcome: "unavailable" });
        throw new PlatformError(503, "revision_unavailable", err.message, { retry_after_s: err.retryAfterS });
      }
      if (timeout.expired) {
        deps.metrics.outcomes.inc({ mode, outcome: "timeout" });
        throw new PlatformError(504, "timeout", `no runner became free within request_timeout (${app.scaling.request_timeout} s)`);
      }
      if (call.clientGone?.aborted) throw hungUp(deps, mode, log);
      throw err;
    });
  }
  return { app, lease };
}

/** The answer to a caller who hung up while waiting for a runner (499), counted and logged. */
function hungUp(deps: GatewayDeps, mode: "sync" | "stream", log: Logger): PlatformError {
  deps.metrics.outcomes.inc({ mode, outcome: "client_gone" });
  log.info({}, "caller hung up while waiting for a runner");
  return new PlatformError(499, "client_closed", "the caller closed the connection");
}

/** The headers a runner gets with a call: the request's identity and the caller's content headers. */
export function runnerHeaders(call: GatewayCall, requestId: string): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-fal-request-id": requestId,
    "x-fal-endpoint": `${call.owner}/${call.alias}${call.subpath === "/" ? "" : call.subpath}`,
  };
  for (const h of FORWARDED) {
    const v = call.headers[h];
    if (typeof v === "string") headers[h] = v;
  }
  if (call.key) headers["x-fal-caller-key-id"] = call.key.key_id;
  return headers;
}

/** The queue protocol: submit, status, result, cancel. */
export async function queueCall(deps: GatewayDeps, call: GatewayCall): Promise<GatewayAnswer> {
  const m = REQUEST_PATH.exec(call.subpath);
  if (call.method === "GET" && m && m[2] === "/status") return status(deps, call, m[1]);
  if (call.method === "GET" && m && !m[2]) return result(deps, call, m[1]);
  if (call.method === "PUT" && m && m[2] === "/cancel") return cancel(deps, call, m[1]);
  if (call.method === "POST") return submit(deps, call);
  throw new PlatformError(405, "method_not_allowed", `${call.method} ${call.subpath} is not part of the queue protocol`);
}

function urls(call: GatewayCall, id: string) {
  const base = `${call.queueBase}/${call.owner}/${call.alias}/requests/${id}`;
  return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
}

async function submit(deps: GatewayDeps, call: GatewayCall): Promise<GatewayAnswer> {
  const app = await resolveApp(deps, call);
  const startTimeoutS = parseRequestTimeoutHeader(call.headers["x-fal-request-timeout"]);
  const webhook = call.query.get("fal_webhook");
  if (webhook !== null) await checkWebhookUrl(webhook, deps.webhookPolicy);
  if (call.key) deps.usage.record(app.id, call.key.key_id);
  const id = randomUUID();
  const contentType = typeof call.headers["content-type"] === "string" ? call.headers["content-type"] : "application/json";
  const body = call.body.length > 0 ? call.body : Buffer.from("{}");
  // An exact count only when the owner's last one is over a second old or near a limit (queue/ownerQuota.ts).
  await checkSubmitQuota(deps.db, call.owner, body.length, deps.limits);
  // Stored before the 2xx: from here on the request is answered, retried or reported failed.
  // A big body goes to the payload store first, then the row that points to it.
  const payload = await storeBody(deps.payloads, id, "payload", body);
  // The insert says where the request went (claimed at once by a runner here, or queued
  // behind how many): no statement after it before the answer.
  const stored = await qs.insertRequest(deps.db, {
    id,
    appId: app.id,
    owner: call.owner,
    alias: call.alias,
    path: call.subpath,
    payload,
    contentType,
    caller: call.key?.key_id ?? null,
    webhookUrl: webhook,
    noRetry: isTruthy(call.headers["x-fal-no-retry"]),
    startTimeoutS,
  }).catch(async (err) => {
    if (payload.ref) await deps.payloads.delete([id]).catch(() => undefined);
    throw err;
  });
  addedToQuota(deps.db, call.owner, body.length, stored.status === "IN_QUEUE");
  // A queued request has already woken this process's dispatcher (queueStore.onQueued); a claimed one needs no pass.
  if (stored.status === "IN_QUEUE") deps.dispatcher.kick();
  return {
    status: 200,
    headers: { "x-fal-request-id": id },
    // IN_QUEUE even when a runner took it in the insert, as before (fal answers a submit with IN_QUEUE).
    body: { request_id: id, gateway_request_id: id, ...urls(call, id), status: "IN_QUEUE", queue_position: stored.queuePosition },
  };
}

async function findRequest(deps: GatewayDeps, call: GatewayCall, id: string) {
  const app = await resolveApp(deps, call);
  // Status columns only: a poll must not read the payload or the result, however big.
  const row = await qs.getRequestStatus(deps.db, id);
  if (!row || row.app_id !== app.id || isExpired(row.completed_at, deps.limits)) throw new PlatformError(404, "not_found", `request '${id}' not found for ${call.owner}/${call.alias}`);
  return row;
}

export async function status(deps: GatewayDeps, call: GatewayCall, id: string): Promise<GatewayAnswer> {
  const row = await findRequest(deps, call, id);
  const withLogs = isTruthy(call.query.get("logs") ?? undefined);
  const common = { request_id: id, ...urls(call, id) };
  if (row.status === "IN_QUEUE") {
    return { status: 202, body: { status: "IN_QUEUE", ...common, queue_position: await qs.queuePosition(deps.db, row) } };
  }
  if (row.status === "IN_PROGRESS") {
    const logs = withLogs ? [...row.logs, ...(deps.dispatcher.liveLogs(id) ?? [])] : null;
    return { status: 202, body: { status: "IN_PROGRESS", ...common, logs } };
  }
  const inference = row.started_at && row.completed_at ? (row.completed_at.getTime() - row.started_at.getTime()) / 1000 : null;
  return {
    status: 200,
    body: {
      status: "COMPLETED",
      ...common,
      logs: withLogs ? row.logs : null,
      metrics: { inference_time: inference },
      ...(row.error ? { error: row.error, error_type: row.error_type } : {}),
    },
  };
}

async function result(deps: GatewayDeps, call: GatewayCall, id: string): Promise<GatewayAnswer> {
  const row = await findRequest(deps, call, id);
  if (row.status !== "COMPLETED") {
    return { status: 400, body: { detail: `request ${id} is ${row.status === "IN_QUEUE" ? "still in the queue" : "still in progress"}` } };
  }
  const headers: Record<string, string> = {
    "x-fal-request-id": id,
    "content-type": row.result_content_type ?? "application/json",
  };
  if (row.error_type === "request_timeout_user") headers["x-fal-request-timeout-type"] = "user";
  const stored = await qs.getResultBody(deps.db, id);
  const bytes = stored ? await loadBody(deps.payloads, stored.result_body, stored.result_ref) : undefined;
  if (!bytes && stored?.result_ref) throw new PlatformError(404, "not_found", `the result of request '${id}' is no longer stored`);
  return { status: row.result_status ?? 500, headers, body: bytes ?? Buffer.from("{}") };
}

async function cancel(deps: GatewayDeps, call: GatewayCall, id: string): Promise<GatewayAnswer> {
  const row = await findRequest(deps, call, id);
  if (row.status === "COMPLETED") return { status: 400, body: { status: "ALREADY_COMPLETED" } };
  if (row.status === "IN_QUEUE") {
    const done = await qs.completeWaiting(deps.db, id, {
      status: 499,
      body: await storeBody(deps.payloads, id, "result", Buffer.from(JSON.stringify({ detail: "the request was cancelled before it started" }))),
      contentType: "application/json",
      error: "cancelled before it started",
      errorType: "cancelled",
    });
    if (done) {
      deps.metrics.outcomes.inc({ mode: "queue", outcome: "cancelled" });
      return { status: 202, body: { status: "CANCELLATION_REQUESTED" } };
    }
  }
  // In progress (here or in another process): the holder forwards it to the runner.
  await qs.requestCancel(deps.db, id);
  await deps.dispatcher.cancelHeld(id);
  return { status: 202, body: { status: "CANCELLATION_REQUESTED" } };
}

function isTruthy(v: string | string[] | undefined): boolean {
  if (v === undefined) return false;
  const s = Array.isArray(v) ? v[0] : v;
  return s !== "" && s !== "0" && s.toLowerCase() !== "false";
}
