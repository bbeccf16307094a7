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

/** POSTs to a runner and reads its whole answer. */
export async function postToRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  signal?: AbortSignal,
): Promise<RunnerResponse> {
  const res = await streamFromRunner(baseUrl, path, headers, body, signal);
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return {
    status: res.status,
    contentType: (res.headers["content-type"] as string | undefined) ?? "application/json",
    body: Buffer.concat(chunks),
  };
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
 * postToRunner for answers that stream (server-sent events): resolves as soon
 * as the runner's status line and headers arrive, with the body still
 * flowing. `signal` aborts the request at any point, the body included.
 */
export function streamFromRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  signal?: AbortSignal,
): Promise<RunnerStream> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path,
        method: "POST",
        agent,
        signal,
        headers: { ...headers, "content-length": body.length },
      },
      (res) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res }),
    );
    // Before the answer this rejects; after it, an error reaches the body stream (reject is then a no-op).
    req.on("error", reject);
    req.end(body);
  });
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
