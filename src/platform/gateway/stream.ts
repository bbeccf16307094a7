/**
 * Streaming through the gateway, as fal does it (routes.ts maps HTTP onto
 * these, like calls.ts's handlers):
 *
 *  - streamCall: a synchronous call whose answer streams. fal's client
 *    requests `<owner>/<alias>[/<path>]/stream` for `fal.stream(...)`; the
 *    path reaches the runner as it is, so the app serves `/stream` itself
 *    with a generator endpoint, which answers with server-sent events
 *    (docs/runner-protocol.md, "Streaming"). The runner's body is piped to the
 *    caller as it arrives, with back-pressure, never buffered; the lease is
 *    held until the stream ends, and the caller hanging up closes the runner
 *    connection (the runner stops the generator) and frees the lease at once.
 *  - statusStream: a queued request's status as server-sent events
 *    (`.../requests/<id>/status/stream`, the client's subscribe with
 *    mode "streaming"), an event per change, ending after COMPLETED. It
 *    wakes when this process claims, completes or requeues the request
 *    (queueStore.watchRequest) and polls the store as the fallback for what
 *    other processes on the same PostgreSQL do (waitForChange).
 */
import { Readable } from "node:stream";
import { streamFromRunner, type RunnerStream } from "../runners";
import { PlatformError } from "../errors";
import * as qs from "../store/queueStore";
import { openCall, resolveApp, runnerHeaders, status, type GatewayAnswer, type GatewayCall, type GatewayDeps } from "./calls";

/** An answer whose body is sent as it is read. */
export interface GatewayStream extends GatewayAnswer {
  readonly body: Readable;
}

/** What proxies between the caller and the gateway must not buffer or cache. */
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" };
const STATUS_STREAM_PATH = /^\/requests\/([^/]+)\/status\/stream\/?$/;
/**
 * How often the status stream reads the request when a change may come
 * unannounced: one made by another process on the same PostgreSQL, or new
 * live logs (with `logs=1`); also the least gap between two reads for a
 * waiting request's queue position, however often its app's other requests move.
 */
const STATUS_POLL_MS = 100;
/** The safety-net read while every change to the request comes with an in-process notice. */
const STATUS_SAFETY_MS = 1000;
/** A comment line this often keeps idle intermediaries from closing a quiet status stream. */
const KEEP_ALIVE_MS = 10_000;

/** Whether a sync call's path is a streaming one: fal's client appends `/stream` for `fal.stream`. */
export function isStreamPath(subpath: string): boolean {
  return /(^|\/)stream\/?$/.test(subpath);
}

/** The request id of a queue status-stream path (`/requests/<id>/status/stream`), else undefined. */
export function statusStreamId(subpath: string): string | undefined {
  return STATUS_STREAM_PATH.exec(subpath)?.[1];
}

/** A sync call whose runner answer is piped to the caller as it streams. */
export async function streamCall(deps: GatewayDeps, call: GatewayCall): Promise<GatewayStream> {
  // request_timeout bounds the whole stream, as it bounds a sync call: a runner slot is held throughout.
  const { app, lease, requestId, log, timeout } = await openCall(deps, call, "stream");
  const headers: Record<string, string> = { ...runnerHeaders(call, requestId), accept: "text/event-stream" };

  const started = Date.now();
  let res: RunnerStream;
  try {
    res = await streamFromRunner(lease.url, call.subpath, headers, call.body.length > 0 ? call.body : Buffer.from("{}"), timeout.signal);
  } catch (err) {
    lease.release();
    if (timeout.expired) {
      deps.metrics.outcomes.inc({ mode: "stream", outcome: "timeout" });
      throw new PlatformError(504, "timeout", `request_timeout (${app.scaling.request_timeout} s) passed`);
    }
    if (call.clientGone?.aborted) {
      deps.metrics.outcomes.inc({ mode: "stream", outcome: "client_gone" });
      throw new PlatformError(499, "client_closed", "the caller closed the connection");
    }
    deps.metrics.outcomes.inc({ mode: "stream", outcome: "error" });
    log.warn({ err: String(err), runner_id: lease.runner.id }, "runner connection failed");
    throw new PlatformError(502, "runner_unavailable", "the runner did not answer");
  }

  // 'close' comes once the body ended, failed or was destroyed (the caller left,
  // the deadline passed): the runner slot is free from then on.
  res.body.once("close", () => {
    lease.release();
    const outcome = res.body.readableEnded ? (res.status < 400 ? "ok" : "error") : timeout.expired ? "timeout" : "cut";
    deps.metrics.requestDuration.observe({ mode: "stream" }, (Date.now() - started) / 1000);
    deps.metrics.outcomes.inc({ mode: "stream", outcome });
    // The call's one access line (the server's own is left out: accessLogged).
    log.info({ method: call.method, endpoint: headers["x-fal-endpoint"], status: res.status, outcome, ms: Date.now() - started, runner_id: lease.runner.id }, "stream request");
  });
  const contentType = (res.headers["content-type"] as string | undefined) ?? "application/json";
  return {
    status: res.status,
    headers: {
      ...(contentType.startsWith("text/event-stream") ? SSE_HEADERS : {}),
      "content-type": contentType,
      "x-fal-request-id": requestId,
    },
    body: res.body,
    accessLogged: true,
  };
}

/**
 * A queued request's status as server-sent events: the same objects as the
 * status endpoint (IN_QUEUE with queue_position, IN_PROGRESS, COMPLETED), one
 * per change, ending after COMPLETED. With logs asked for, each event carries
 * only the lines not sent before on this stream: fal's client appends every
 * event's logs to what it already has.
 */
export async function statusStream(deps: GatewayDeps, call: GatewayCall, id: string): Promise<GatewayStream> {
  const app = await resolveApp(deps, call);
  // Watching before the first read: no change falls between the read and the wait.
  const changes: Changes = { own: false, app: false };
  const unwatch = qs.watchRequest(deps.db, id, app.id, (own) => {
    if (own) changes.own = true;
    else changes.app = true;
    changes.wake?.();
  });
  let first: GatewayAnswer;
  try {
    // A request that does not exist (or is not this app's) is an ordinary 404, before any event.
    first = await status(deps, call, id);
  } catch (err) {
    unwatch();
    throw err;
  }
  const stop = new AbortController();
  const body = Readable.from(statusEvents(deps, call, id, first, changes, stop.signal), { objectMode: false });
  // The caller left (the body is destroyed): stop waiting now, not at the next change.
  body.once("close", () => {
    unwatch();
    stop.abort();
  });
  return { status: 200, headers: SSE_HEADERS, body };
}

/** Changes to the watched request (own) or to its app's other requests (app) since the last read. */
interface Changes {
  own: boolean;
  app: boolean;
  /** Set while the stream waits. */
  wake?: () => void;
}

/**
 * Waits until the stream should read the request again; true when it was
 * stopped. At once on a change to the request itself; for a waiting request
 * on a change to its app's other requests (its position may have moved), but
 * not sooner than STATUS_POLL_MS after the last read; else after pollMs.
 */
function waitForChange(changes: Changes, pollMs: number, positionMatters: boolean, lastRead: number, stop: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve(true);
    let timer: NodeJS.Timeout | undefined;
    const done = (stopped: boolean) => {
      clearTimeout(timer);
      changes.wake = undefined;
      stop.removeEventListener("abort", onStop);
      resolve(stopped);
    };
    const onStop = () => done(true);
    stop.addEventListener("abort", onStop, { once: true });
    timer = setTimeout(() => done(false), pollMs);
    let early = false;
    const check = () => {
      if (changes.own) return done(false);
      if (changes.app && positionMatters && !early) {
        const due = lastRead + STATUS_POLL_MS - Date.now();
        if (due <= 0) return done(false);
        early = true;
        clearTimeout(timer);
        timer = setTimeout(() => done(false), Math.min(due, pollMs));
      }
    };
    changes.wake = check;
    check();
  });
}

interface StatusBody {
  readonly status: string;
  readonly queue_position?: number;
  readonly logs?: unknown[] | null;
}

async function* statusEvents(
  deps: GatewayDeps,
  call: GatewayCall,
  id: string,
  first: GatewayAnswer,
  changes: Changes,
  stop: AbortSignal,
): AsyncGenerator<string> {
  let current = first.body as StatusBody;
  let logsSent = 0;
  let lastState = "";
  let lastWrite = Date.now();
  let lastRead = Date.now();
  for (;;) {
    const state = `${current.status}:${current.queue_position ?? ""}`;
    const fresh = Array.isArray(current.logs) ? current.logs.slice(logsSent) : null;
    if (state !== lastState || (fresh && fresh.length > 0)) {
      yield `data: ${JSON.stringify(fresh ? { ...current, logs: fresh } : current)}\n\n`;
      lastState = state;
      if (fresh) logsSent += fresh.length;
      lastWrite = Date.now();
    }
    if (current.status === "COMPLETED") return;
    if (Date.now() - lastWrite >= KEEP_ALIVE_MS) {
      yield ": keep-alive\n\n";
      lastWrite = Date.now();
    }
    // Every change comes with a notice when this process holds the data (PGlite) or the request
    // (it runs here); else other processes may move it, and only a read shows it. Live logs are read.
    const announced = deps.db.kind === "pglite" || deps.dispatcher.liveLogs(id) !== undefined;
    const liveLogs = current.status === "IN_PROGRESS" && Array.isArray(current.logs); // logs=1 asked for
    const pollMs = announced && !liveLogs ? STATUS_SAFETY_MS : STATUS_POLL_MS;
    const stopped = await waitForChange(changes, Math.min(pollMs, KEEP_ALIVE_MS - (Date.now() - lastWrite)), current.status === "IN_QUEUE", lastRead, stop);
    if (stopped || stop.aborted) return;
    // Cleared before the read: a change during it is seen by the next wait.
    changes.own = changes.app = false;
    lastRead = Date.now();
    current = (await status(deps, call, id)).body as StatusBody;
  }
}
