/**
 * The runner HTTP client: every call the platform makes to a runner goes
 * through here (requests, health checks, cancellations), so the gateway, the
 * queue and the backends share one idea of the runner protocol
 * (docs/runner-protocol.md).
 *
 * A request whose whole answer is read (a sync call, a queued request) goes
 * through undici's dispatcher, with a handler object rather than promises
 * or streams: Node's own client (agent, ClientRequest, IncomingMessage) was
 * the largest part of the gateway's cost per call after the runner itself
 * (docs/performance.md, "Fourth pass"). A streamed answer keeps node:http,
 * whose IncomingMessage is the back-pressured Readable the gateway pipes to
 * the caller. Both pools keep connections alive and close idle ones after
 * 30 s, well before the runner harness drops idle connections (300 s), so a
 * pooled connection is not reused just as the runner closes it. Health
 * checks and cancellations are rare and use fetch.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { Agent, type Dispatcher } from "undici";

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 30_000 });

const IDLE_MS = 30_000;
const dispatcher = new Agent({
  connections: 256,
  keepAliveTimeout: IDLE_MS,
  keepAliveMaxTimeout: IDLE_MS,
  // No client-side limits: request_timeout (the caller's abort) bounds a call, however long.
  headersTimeout: 0,
  bodyTimeout: 0,
});

export interface RunnerResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * POSTs to a runner and reads its whole answer. Rejects when the request
 * fails or the answer ends early.
 */
export function postToRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  abort?: RunnerAbort,
): Promise<RunnerResponse> {
  return new Promise((resolve, reject) => exchangeWithRunner(baseUrl, path, headers, body, abort, (err, res) => (err ? reject(err) : resolve(res!))));
}

/**
 * postToRunner with a callback, called once: for the gateway's synchronous
 * fast path, which answers from the callback, with no promise in between.
 */
export function exchangeWithRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  abort: RunnerAbort | undefined,
  done: (err: Error | undefined, res?: RunnerResponse) => void,
): void {
  const exchange = new RunnerExchange(done);
  exchange.cleanup = whenAborted(abort, (reason) => exchange.cancel(reason));
  if (!exchange.settled) dispatcher.dispatch({ origin: baseUrl, path, method: "POST", headers, body }, exchange);
}

/**
 * One request's answer, collected from undici's handler callbacks (its
 * methods on the prototype: one object per request, no closures).
 */
class RunnerExchange implements Dispatcher.DispatchHandler {
  settled = false;
  /** Removes the abort listener, if one was added. */
  cleanup?: () => void;
  private status = 502;
  private contentType = "application/json";
  private readonly chunks: Buffer[] = [];
  private abortRequest?: (err?: Error) => void;

  constructor(private readonly done: (err: Error | undefined, res?: RunnerResponse) => void) {}

  /** Ends the request with `reason` (a deadline, the caller gone): the answer is an error now, the connection is dropped. */
  cancel(reason: unknown): void {
    const err = asError(reason);
    this.settle(err);
    this.abortRequest?.(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    // Cancelled while it waited for a connection: it is not sent.
    if (this.settled) abort(new Error("the request was cancelled before it was sent"));
  }

  onHeaders(statusCode: number, headers: Buffer[]): boolean {
    this.status = statusCode;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i].length === 12 && headers[i].toString("latin1").toLowerCase() === "content-type") this.contentType = headers[i + 1].toString("latin1");
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const chunks = this.chunks;
    this.settle(undefined, { status: this.status, contentType: this.contentType, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
  }

  onError(err: Error): void {
    this.settle(err);
  }

  /** Calls `done` the first time only. */
  private settle(err: Error | undefined, res?: RunnerResponse): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup?.();
    this.done(err, res);
  }
}

export interface RunnerStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /**
   * The runner's body as it arrives, not buffered: read it to the end or
   * destroy it. Destroying it (or aborting the signal) closes the connection,
   * which is how the runner learns that nobody reads the rest.
   */
  readonly body: IncomingMessage;
}

/**
 * What ends a runner request early: an AbortSignal, or anything that calls
 * back once with the reason (the gateway's call deadline, which makes no
 * signal for a call that does not wait; gateway/callSignals.ts).
 */
export type RunnerAbort = AbortSignal | { onAbort(fn: (reason: unknown) => void): void };

/**
 * postToRunner for answers that stream (server-sent events): resolves as soon
 * as the runner's status line and headers arrive, with the body still
 * flowing. `abort` ends the request at any point, the body included.
 */
export function streamFromRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  abort?: RunnerAbort,
): Promise<RunnerStream> {
  return new Promise((resolve, reject) => {
    runnerRequest(baseUrl, path, headers, body, abort, reject, (res) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res }));
  });
}

/** Sends one request to a runner; `onError` hears of a failure before the answer, after it the body stream does. */
function runnerRequest(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  abort: RunnerAbort | undefined,
  onError: (err: Error) => void,
  onResponse: (res: IncomingMessage) => void,
): void {
  const target = targetOf(baseUrl);
  // Headers as a flat list: Node then validates and writes them in one pass instead of storing
  // each through setHeader (~5 µs a call on the gateway's hot path). A list gets no Host header
  // from Node, so it is sent here.
  const raw: string[] = ["host", target.hostHeader];
  for (const name in headers) raw.push(name, headers[name]);
  raw.push("content-length", String(body.length));
  const req = http.request({ host: target.host, port: target.port, path, method: "POST", agent, headers: raw }, onResponse);
  req.on("error", onError);
  // Not http.request's `signal` option: it registers a weak listener and an end-of-stream
  // watcher per request, which cost more on the gateway's hot path than this.
  const stopListening = whenAborted(abort, (reason) => req.destroy(asError(reason)));
  if (stopListening) req.once("close", stopListening);
  req.end(body);
}

/**
 * Calls `fn` once when `abort` fires, at once when it already has. Returns
 * what removes the listener of an AbortSignal still pending (a callback-style
 * abort needs no removal: it fires once, when its call ends it no more).
 */
function whenAborted(abort: RunnerAbort | undefined, fn: (reason: unknown) => void): (() => void) | undefined {
  if (abort instanceof AbortSignal) {
    if (abort.aborted) {
      fn(abort.reason);
      return undefined;
    }
    const listener = { handleEvent: () => fn(abort.reason) };
    abort.addEventListener("abort", listener, { once: true });
    return () => abort.removeEventListener("abort", listener);
  }
  abort?.onAbort(fn);
  return undefined;
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** Host, port and Host header of a runner's base URL, parsed once per runner rather than per request. */
const targets = new Map<string, { host: string; port: string; hostHeader: string }>();
function targetOf(baseUrl: string): { host: string; port: string; hostHeader: string } {
  let t = targets.get(baseUrl);
  if (!t) {
    const u = new URL(baseUrl);
    t = { host: u.hostname, port: u.port, hostHeader: u.host };
    // Runners come and go; their URLs are few at a time, so a full map is simply started afresh.
    if (targets.size >= 1000) targets.clear();
    targets.set(baseUrl, t);
  }
  return t;
}

/**
 * Status of the runner's `GET /health` (200 when it is healthy); throws when
 * the runner does not answer within timeoutMs.
 */
export async function runnerHealth(baseUrl: string, timeoutMs: number): Promise<number> {
  const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Asks the runner to cancel the request it is working on (`POST /_fal/cancel`);
 * throws when the runner cannot be reached within timeoutMs.
 */
export async function cancelOnRunner(baseUrl: string, requestId: string, timeoutMs: number): Promise<void> {
  const res = await fetch(`${baseUrl}/_fal/cancel`, {
    method: "POST",
    headers: { "x-fal-request-id": requestId },
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
}
