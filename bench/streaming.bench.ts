/**
 * npm run bench (part) — streaming latency: how long after the runner sends a
 * server-sent event the caller has it, runner direct vs through the gateway,
 * measured in one run on this machine (figures, not pass/fail).
 *
 * The streamer fixture (test/fixtures/apps/streamer) stamps each event with
 * the runner's wall clock (`at`, Python's time.time()) as it yields it; the
 * caller takes its own wall clock (performance.timeOrigin + performance.now(),
 * sub-millisecond) when the event is parsed. Both sides read the same system
 * clock, so the difference is the delivery time. The first event of a stream
 * is sent at once; the second 20 ms later, when the connection is warm, so it
 * measures forwarding alone.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform } from "../src/platform/startPlatform";
import { PlatformClient } from "../src/client/client";
import { createLogger } from "../src/platform/log";
import { deployDir, FIXTURE_APPS } from "../test/helpers/deploy";

const KEY = "bench:bench-secret-0123456789";
/** The goal: the first chunk through the gateway at most 1 ms after the runner sent it (beyond the direct path). */
const GOAL_FIRST_CHUNK_MS = 1;

const now = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => `${x.toFixed(3)} ms`;

/** Delivery delays (ms) of each event of one stream. */
async function streamDelays(url: string, headers: Record<string, string>): Promise<number[]> {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ n: 2, delay: 0.02 }),
  });
  if (res.status !== 200) throw new Error(`stream ${url}: ${res.status}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const delays: number[] = [];
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return delays;
    const arrived = now();
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = block.split("\n").find((l) => l.startsWith("data:"));
      if (!data) continue;
      const event = JSON.parse(data.slice(5)) as { at?: number };
      if (typeof event.at === "number") delays.push(arrived - event.at * 1000);
    }
  }
}

async function main() {
  const n = Number(process.env.BENCH_STREAMS ?? 200);
  const dataDir = mkdtempSync(join(tmpdir(), "falplane-bench-"));
  process.stdout.write(`falplane streaming benchmark — ${new Date().toISOString()}, ${n} streams per path, PGlite store\n\n`);
  const platform = await startPlatform({ dataDir, port: 0, bootstrapKey: KEY, logger: createLogger("error") });
  const client = new PlatformClient({ url: platform.url, key: KEY });
  try {
    await deployDir(client, {
      dir: join(FIXTURE_APPS, "streamer"),
      sourceObject: "app.py::Streamer",
      name: "streamer",
      scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 600 },
      codeSettings: { max_multiplexing: 1 },
    });
    let port: number | undefined;
    for (let i = 0; i < 300 && !port; i++) {
      const rows = await platform.db.query<{ port: number }>("SELECT port FROM runners WHERE state = 'IDLE' AND port IS NOT NULL LIMIT 1");
      port = rows[0]?.port;
      if (!port) await new Promise((r) => setTimeout(r, 100));
    }
    if (!port) throw new Error("no idle runner");
    const direct = `http://127.0.0.1:${port}/stream`;
    const gateway = `${platform.url}/run/local/streamer/stream`;
    const auth = { authorization: `Key ${KEY}` };

    const first = { direct: [] as number[], gateway: [] as number[] };
    const second = { direct: [] as number[], gateway: [] as number[] };
    // Warm both paths, then alternate so drift in machine load hits both alike.
    for (let i = 0; i < 10; i++) {
      await streamDelays(direct, {});
      await streamDelays(gateway, auth);
    }
    for (let i = 0; i < n; i++) {
      const d = await streamDelays(direct, {});
      const g = await streamDelays(gateway, auth);
      first.direct.push(d[0]);
      first.gateway.push(g[0]);
      second.direct.push(d[1]);
      second.gateway.push(g[1]);
    }
    const line = (label: string, xs: number[]) => `  ${label.padEnd(34)} p50 ${ms(pct(xs, 50)).padStart(10)}   p99 ${ms(pct(xs, 99)).padStart(10)}\n`;
    process.stdout.write("5. Streaming: runner sends an event → the caller has it\n");
    process.stdout.write(line("first event, runner direct", first.direct));
    process.stdout.write(line("first event, through the gateway", first.gateway));
    process.stdout.write(line("second event, runner direct", second.direct));
    process.stdout.write(line("second event, through the gateway", second.gateway));
    const added = pct(first.gateway, 50) - pct(first.direct, 50);
    const added2 = pct(second.gateway, 50) - pct(second.direct, 50);
    process.stdout.write(
      `  gateway adds (p50)                 first event ${ms(added)}, second event ${ms(added2)}` +
        `   goal ≤ ${GOAL_FIRST_CHUNK_MS} ms → ${added <= GOAL_FIRST_CHUNK_MS ? "met" : "not met"}\n`,
    );
  } finally {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
