/**
 * HTTP to runners over a keep-alive pool (node:http). Cheaper per call than
 * fetch, which matters on the gateway's hot path. Idle sockets close after
 * 30 s, well before the runner harness drops idle connections (300 s), so a
 * pooled socket is not reused just as the runner closes it.
 */
import http from "node:http";

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 30_000 });

export interface RunnerResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

export function postToRunner(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  signal?: AbortSignal,
): Promise<RunnerResponse> {
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
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 502,
            contentType: (res.headers["content-type"] as string | undefined) ?? "application/json",
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
