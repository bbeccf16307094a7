/**
 * npm run bench (part) — queue latency and cold start, figures not pass/fail.
 * Everything is measured in one run on this machine and reported against a
 * baseline measured in the same run (these machines are shared and noisy),
 * beside the goal of issue #11:
 *
 *  1. sync call p50/p99: the baseline (send → runner start, send → answer);
 *  2. queue: submit → runner start and submit → result (status polled with
 *     1 ms gaps, then the result fetched), p50/p99, and what they add over
 *     the sync call (goal: runner start ≤ 2 ms p50 above sync);
 *  3. cold start: first answer from zero runners minus the app's own setup
 *     (WORKER_SETUP_SECONDS=0.5), goal ≤ 250 ms.
 *
 * Run once on PGlite, then on PostgreSQL when one can be had the way the tests
 * find one (TEST_DATABASE_URL, else a throwaway cluster of Debian's server
 * binaries); the PostgreSQL run also measures a request submitted to one
 * platform process and served by another (LISTEN/NOTIFY between them).
 *
 * "Runner start" is the wall-clock time the bench app reads (time.time()) as
 * its endpoint begins, against the bench's own wall clock when it sent.
 */
import http from "node:http";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform } from "../src/platform/startPlatform";
import { PlatformClient } from "../src/client/client";
import { createLogger } from "../src/platform/log";
import { deployDir, deployWorker } from "../test/helpers/deploy";
import { createTestDatabase, findPostgresBin, startPostgresCluster, type PostgresCluster } from "../test/helpers/postgres";
import { startPlatformProcess, type PlatformProcess } from "../test/helpers/platformProcess";

const KEY = "bench:bench-secret-0123456789";
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** Wall-clock milliseconds with sub-millisecond resolution (comparable to Python's time.time()). */
const wallMs = () => performance.timeOrigin + performance.now();

function request(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const extra = body === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent, headers: { ...extra, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const post = (url: string, body: string, headers: Record<string, string> = {}) => request("POST", url, body, headers);
const get = (url: string, headers: Record<string, string> = {}) => request("GET", url, undefined, headers);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => `${x.toFixed(3)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** An app that answers at once with the wall-clock time its endpoint began. */
const CLOCK_APP = `
import time
import falplane

class Clock(falplane.App):
    @falplane.endpoint("/")
    def run(self, input: dict) -> dict:
        return {"t": time.time() * 1000.0, "value": input.get("value")}
`;

interface Series {
  start: number[];
  total: number[];
}

function line(name: string, xs: number[], base?: number[]): string {
  const vs = base ? `   (+${ms(pct(xs, 50) - pct(base, 50))} p50 over sync)` : "";
  return `  ${name.padEnd(44)} p50 ${ms(pct(xs, 50)).padStart(10)}   p99 ${ms(pct(xs, 99)).padStart(10)}${vs}\n`;
}

function verdict(label: string, value: number, goal: number): string {
  return `  ${label.padEnd(48)} ${ms(value).padStart(11)}   goal ≤ ${goal} ms   ${value <= goal ? "met" : "NOT met"}\n`;
}

async function syncSeries(url: string, n: number, payload: string, auth: Record<string, string>): Promise<Series> {
  const out: Series = { start: [], total: [] };
  for (let i = 0; i < n + 50; i++) {
    const t0 = wallMs();
    const r = await post(url, payload, auth);
    const t1 = wallMs();
    if (r.status !== 200) throw new Error(`sync call: ${r.status} ${r.body}`);
    if (i < 50) continue; // warm-up
    out.start.push((JSON.parse(r.body) as { t: number }).t - t0);
    out.total.push(t1 - t0);
  }
  return out;
}

/** Submit to `submitBase`, poll status and fetch the result from `pollBase` (another process on PostgreSQL). */
async function queueSeries(submitBase: string, pollBase: string, n: number, payload: string, auth: Record<string, string>): Promise<Series> {
  const out: Series = { start: [], total: [] };
  for (let i = 0; i < n + 20; i++) {
    const t0 = wallMs();
    const sub = await post(`${submitBase}/queue/local/clock`, payload, auth);
    if (sub.status !== 200) throw new Error(`submit: ${sub.status} ${sub.body}`);
    const id = (JSON.parse(sub.body) as { request_id: string }).request_id;
    for (;;) {
      const s = JSON.parse((await get(`${pollBase}/queue/local/clock/requests/${id}/status`, auth)).body) as { status: string };
      if (s.status === "COMPLETED") break;
      if (wallMs() - t0 > 30_000) throw new Error(`queued request ${id} not completed after 30 s (${s.status})`);
      await sleep(1);
    }
    const r = await get(`${pollBase}/queue/local/clock/requests/${id}`, auth);
    const t1 = wallMs();
    if (r.status !== 200) throw new Error(`queue result: ${r.status} ${r.body}`);
    if (i < 20) continue;
    out.start.push((JSON.parse(r.body) as { t: number }).t - t0);
    out.total.push(t1 - t0);
  }
  return out;
}

async function waitIdle(client: PlatformClient, name: string, count: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await client.listRunners(name)).filter((r) => r.state === "IDLE").length >= count) return;
    await sleep(50);
  }
  throw new Error(`no idle runner of ${name}`);
}

interface Figures {
  queueStartOver: number;
  /** PostgreSQL: submitted to a second platform process, served by the first (NOTIFY between them). */
  crossStartOver?: number;
  queueTotalOver: number;
  coldOverhead: number;
}

async function run(label: string, databaseUrl: string | undefined, n: number, appDir: string): Promise<Figures> {
  const dataDir = mkdtempSync(join(tmpdir(), "falplane-qbench-"));
  // Runners see only the environment passed to them: the worker's setup time is.
  const platform = await startPlatform({ dataDir, databaseUrl, port: 0, bootstrapKey: KEY, logger: createLogger("error"), runnerEnv: ["WORKER_SETUP_SECONDS"] });
  let second: PlatformProcess | undefined;
  const client = new PlatformClient({ url: platform.url, key: KEY });
  const auth = { authorization: `Key ${KEY}` };
  const payload = JSON.stringify({ value: "x".repeat(64) });
  process.stdout.write(`${label}\n`);
  try {
    // One runner of the app, on the first process: the second only relays the queue.
    await deployDir(client, { dir: appDir, sourceObject: "app.py::Clock", name: "clock", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 600 }, codeSettings: { max_multiplexing: 1 } });
    await waitIdle(client, "clock", 1);
    // A second platform process on the same PostgreSQL, started once the app's one runner runs
    // here (max_concurrency counts across processes): requests submitted there are served here.
    if (databaseUrl) {
      second = await startPlatformProcess({ dataDir: join(dataDir, "second"), key: KEY, env: { DATABASE_URL: databaseUrl, FALPLANE_LOG_LEVEL: "error" } });
    }

    const sync = await syncSeries(`${platform.url}/run/local/clock`, n, payload, auth);
    const qn = Math.min(300, n);
    const queue = await queueSeries(platform.url, platform.url, qn, payload, auth);
    process.stdout.write(`  1-2. sync call vs queued request, small JSON, sequential, keep-alive (N=${n} sync, ${qn} queued)\n`);
    process.stdout.write(line("sync send → runner start", sync.start));
    process.stdout.write(line("sync send → answer", sync.total));
    process.stdout.write(line("queue submit → runner start", queue.start, sync.start));
    process.stdout.write(line("queue submit → result", queue.total, sync.total));
    const figures: Figures = {
      queueStartOver: pct(queue.start, 50) - pct(sync.start, 50),
      queueTotalOver: pct(queue.total, 50) - pct(sync.total, 50),
      coldOverhead: 0,
    };
    if (second) {
      const cross = await queueSeries(second.url, second.url, Math.min(200, qn), payload, auth);
      process.stdout.write(line("queue, other process: submit → runner start", cross.start, sync.start));
      process.stdout.write(line("queue, other process: submit → result", cross.total, sync.total));
      figures.crossStartOver = pct(cross.start, 50) - pct(sync.start, 50);
    }
    await client.deleteApp("clock");

    // ---- 3. cold start
    const setupS = 0.5;
    process.env.WORKER_SETUP_SECONDS = String(setupS);
    const overheads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `cold${i}`;
      await deployWorker(client, { name, scaling: { min_concurrency: 0, max_concurrency: 1 } });
      if ((await client.listRunners(name)).length > 0) throw new Error(`${name} has runners before its first call`);
      const t0 = wallMs();
      const r = await post(`${platform.url}/run/local/${name}`, payload, auth);
      if (r.status !== 200) throw new Error(`cold call ${r.status} ${r.body}`);
      overheads.push(wallMs() - t0 - setupS * 1000);
      await client.deleteApp(name);
    }
    figures.coldOverhead = pct(overheads, 50);
    process.stdout.write(`  3. cold start: first sync answer from zero runners minus the app's setup (WORKER_SETUP_SECONDS=${setupS})\n`);
    process.stdout.write(`  overhead per cold start     ${overheads.map((o) => `${o.toFixed(0)} ms`).join(", ")}   (median ${ms(figures.coldOverhead)})\n`);
    return figures;
  } finally {
    await second?.stop();
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const n = Number(process.env.BENCH_N ?? 1000);
  // Which stores to measure: both by default (BENCH_STORES=pglite or postgres for one).
  const stores = (process.env.BENCH_STORES ?? "pglite,postgres").split(",");
  process.stdout.write(`falplane queue and cold-start benchmark — ${new Date().toISOString()}, N=${n} sync calls per store\n\n`);
  const appDir = mkdtempSync(join(tmpdir(), "falplane-qbench-app-"));
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, "app.py"), CLOCK_APP);
  const results: [string, Figures][] = [];
  let cluster: PostgresCluster | undefined;
  // A bench stopped with Ctrl-C must not leave its PostgreSQL cluster running.
  process.once("SIGINT", () => {
    cluster?.stop();
    process.exit(130);
  });
  try {
    if (stores.includes("pglite")) {
      results.push(["PGlite", await run("A. PGlite store", undefined, n, appDir)]);
      process.stdout.write("\n");
    }

    let serverUrl = process.env.TEST_DATABASE_URL;
    let why = "";
    if (!serverUrl && stores.includes("postgres")) {
      const bin = findPostgresBin();
      if (bin) {
        try {
          cluster = await startPostgresCluster(bin);
          serverUrl = cluster.url;
        } catch (err) {
          why = (err as Error).message.split("\n")[0];
        }
      } else {
        why = "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) and no TEST_DATABASE_URL";
      }
    }
    if (!stores.includes("postgres")) {
      // Not asked for (BENCH_STORES).
    } else if (serverUrl) {
      const dbUrl = await createTestDatabase(serverUrl);
      results.push(["PostgreSQL", await run("B. PostgreSQL store (two platform processes share it)", dbUrl, n, appDir)]);
    } else {
      process.stdout.write(`B. PostgreSQL store: skipped (${why})\n`);
    }

    process.stdout.write("\nGoals (issue #11), p50 differences against the sync call measured in the same run\n");
    for (const [store, f] of results) {
      process.stdout.write(verdict(`${store}: queue submit → runner start, over sync`, f.queueStartOver, 2));
      if (f.crossStartOver !== undefined) process.stdout.write(verdict(`${store}: same, submitted to another process`, f.crossStartOver, 2));
      process.stdout.write(`  ${`${store}: queue submit → result, over sync`.padEnd(48)} ${ms(f.queueTotalOver).padStart(11)}   (no goal of its own: two more round trips, a status poll and the result fetch)\n`);
      process.stdout.write(verdict(`${store}: cold-start overhead`, f.coldOverhead, 250));
    }
  } finally {
    cluster?.stop();
    rmSync(appDir, { recursive: true, force: true });
    agent.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
