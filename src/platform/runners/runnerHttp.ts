/**
 * The runner HTTP client: every call the platform makes to a runner goes
 * through here (requests, health checks, cancellations), so the gateway, the
 * queue and the backends share one idea of the runner protocol
 * (docs/runner-protocol.md).
 *
 * Requests go over a keep-alive pool (node:http): cheaper per call than
 * fetch, which matters on the gateway's hot path. Idle sockets close after
 * 30 s, well before the runner harness drops idle connections (300 s), so a
 * pooled socket is not reused just as the runner closes it. Health checks and
 * cancellations are rare and use fetch.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 30_000 });

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
 * fast path, which answers from the callback. The body is read from the
 * response callback itself, not after a promise of the response settles: a
 * reader attached a microtask later measured ~40 µs slower per call on the
 * gateway's hot path (docs/performance.md).
 */
export function exchangeWithRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  abort: RunnerAbort | undefined,
  done: (err: Error | undefined, res?: RunnerResponse) => void,
): void {
  // Arrows passed inline, not bound to names: tsx names a named one with a helper call each time.
  const state = { settled: false };
  runnerRequest(baseUrl, path, headers, body, abort, (err) => settle(state, done, err), (res) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.once("end", () =>
      settle(state, done, undefined, {
        status: res.statusCode ?? 502,
        contentType: (res.headers["content-type"] as string | undefined) ?? "application/json",
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
      }),
    );
    res.once("error", (err) => settle(state, done, err));
    res.once("close", () => {
      if (!res.readableEnded) settle(state, done, new Error("the runner's answer ended early"));
    });
  });
}

/** Calls `done` the first time only. */
function settle(state: { settled: boolean }, done: (err: Error | undefined, res?: RunnerResponse) => void, err: Error | undefined, res?: RunnerResponse): void {
  if (state.settled) return;
  state.settled = true;
  done(err, res);
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
  if (abort instanceof AbortSignal) {
    if (abort.aborted) destroyWith(req, abort.reason);
    else {
      const listener = { handleEvent: () => destroyWith(req, abort.reason) };
      abort.addEventListener("abort", listener, { once: true });
      req.once("close", () => abort.removeEventListener("abort", listener));
    }
  } else abort?.onAbort((reason) => destroyWith(req, reason));
  req.end(body);
}

function destroyWith(req: http.ClientRequest, reason: unknown): void {
  req.destroy(reason instanceof Error ? reason : new Error(String(reason)));
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
