/**
 * npm run bench — figures, not pass/fail. Everything is measured in one run on
 * this machine, and the gateway is reported against baselines measured in the
 * same run, because these machines are shared and noisy; the goals of issue
 * #11 ("gateway overhead to the floor") are printed beside the figures:
 *
 *  1. sync call latency: runner direct vs one bare Node proxy hop vs the
 *     gateway, interleaved in rounds so a noisy neighbour hits all three
 *     alike (p50, p99), from a caller in another process, as every real
 *     caller is; the gateway's added latency as a multiple of the bare
 *     hop's (goal ≤ 1.5× at p50, ≤ 2× at p99); the same series from a
 *     caller inside the platform's process, for comparison with earlier
 *     runs (there the caller also waits for the gateway's bookkeeping after
 *     each answer); info log lines per call (≤ 1);
 *  2. throughput through the gateway with 1 and 4 runners (10 ms of work per request);
 *  3. saturation: a trivial app, several runners, many callers from a separate
 *     process, so that this process's CPU (process.cpuUsage) is the
 *     platform's alone; the same load through the bare Node proxy as the
 *     baseline; CPU per request and what one gateway core can serve (goal
 *     ≥ 5,000 req/s on 2 cores);
 *  4. idle memory: the platform started alone (`falctl platform start`) in a
 *     child process, RSS after start and after 10 s idle, on PGlite (first
 *     start and restart; goal ≤ 400 MB) and on PostgreSQL (goal ≤ 150 MB).
 * (Queue latency and cold start are measured in bench/queue.bench.ts.)
 */
import http from "node:http";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { spawn, execFile } from "node:child_process";
import { tmpdir, cpus } from "node:os";
import { join, resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { startPlatform } from "../src/platform/startPlatform";
import { PlatformClient } from "../src/client/client";
import { batchedLines, createLogger } from "../src/platform/log";
import { deployDir, deployWorker } from "../test/helpers/deploy";
import { createTestDatabase, dropTestDatabase, findPostgresBin, startPostgresCluster, type PostgresCluster } from "../test/helpers/postgres";

const KEY = "bench:bench-secret-0123456789";
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => `${x.toFixed(3)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** One timed call; throws unless it answered 200. */
async function timed(label: string, fn: () => Promise<{ status: number }>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const t = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 200) throw new Error(`${label}: status ${r.status}`);
  return t;
}

/**
 * n sequential calls of each series, interleaved in rounds of `round` calls
 * per series: a burst of load from a neighbour lands on every series alike.
 */
async function interleaved(n: number, series: Record<string, () => Promise<{ status: number }>>, round = 50): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [label, fn] of Object.entries(series)) {
    out[label] = [];
    for (let i = 0; i < 50; i++) await timed(label, fn); // warm-up
  }
  for (let done = 0; done < n; done += round) {
    for (const [label, fn] of Object.entries(series)) {
      for (let i = 0; i < Math.min(round, n - done); i++) out[label].push(await timed(label, fn));
    }
  }
  return out;
}

/** One bare reverse-proxy hop in plain Node, round-robin over the targets: the floor for any gateway written in Node. */
function bareProxy(targets: string[]): Promise<http.Server> {
  const us = targets.map((t) => new URL(t));
  let next = 0;
  const upstream = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const u = us[next++ % us.length];
      const p = http.request(
        { host: u.hostname, port: u.port, path: "/", method: "POST", agent: upstream, headers: { "content-type": "application/json", "content-length": body.length } },
        (pr) => {
          const out: Buffer[] = [];
          pr.on("data", (c) => out.push(c));
          pr.on("end", () => {
            const b = Buffer.concat(out);
            res.writeHead(pr.statusCode ?? 502, { "content-type": "application/json", "content-length": b.length });
            res.end(b);
          });
        },
      );
      p.end(body);
    });
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

/** Ports of the app's idle runners, once `count` of them are up. */
async function runnerPorts(client: PlatformClient, platform: { db: { query<T>(sql: string, p?: unknown[]): Promise<T[]> } }, app: string, count: number): Promise<number[]> {
  for (let i = 0; i < 600; i++) {
    const rows = await platform.db.query<{ port: number }>(
      "SELECT r.port FROM runners r JOIN apps a ON a.id = r.app_id WHERE a.name = $1 AND r.state = 'IDLE' AND r.port IS NOT NULL",
      [app],
    );
    if (rows.length >= count) return rows.map((r) => r.port);
    await sleep(100);
  }
  throw new Error(`${app}: fewer than ${count} idle runners after 60 s`);
}

/**
 * The load generator of the saturation run, in its own process so that its
 * CPU is not the platform's: `concurrency` callers on keep-alive connections
 * for `seconds`, then one JSON line {done, errors, p50, p99}.
 */
const LOAD_GENERATOR = `
const http = require("node:http");
const [url, key, seconds, concurrency] = process.argv.slice(1);
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const body = JSON.stringify({ value: "x".repeat(64) });
const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
if (key) headers.authorization = "Key " + key;
let done = 0, errors = 0;
const lat = [];
const until = Date.now() + Number(seconds) * 1000;
const one = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent, headers }, (res) => {
    res.resume();
    res.on("end", () => { if (res.statusCode === 200) done++; else errors++; lat.push(Number(process.hrtime.bigint() - t0) / 1e6); resolve(); });
  });
  req.on("error", () => { errors++; resolve(); });
  req.end(body);
});
Promise.all(Array.from({ length: Number(concurrency) }, async () => { while (Date.now() < until) await one(); })).then(() => {
  lat.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ done, errors, p50: lat[Math.floor(lat.length / 2)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 }));
});
`;

/**
 * The sequential caller of the latency series, in its own process (a real
 * caller never shares the gateway's event loop): for each series a warm-up
 * of 50 calls, then `n` timed calls per series interleaved in rounds of 50;
 * prints {series: [ms, ...]}. Exits non-zero on any answer but 200.
 */
const SEQUENTIAL_CALLER = `
const http = require("node:http");
const [series, n, body] = [JSON.parse(process.argv[1]), Number(process.argv[2]), process.argv[3]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const call = ([url, headers]) => new Promise((resolve, reject) => {
  const u = new URL(url);
  const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent,
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers } }, (res) => {
    res.resume();
    res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(url + ": status " + res.statusCode))));
  });
  req.on("error", reject);
  req.end(body);
});
(async () => {
  const names = Object.keys(series);
  const out = {};
  for (const k of names) { out[k] = []; for (let i = 0; i < 50; i++) await call(series[k]); }
  for (let done = 0; done < n; done += 50)
    for (const k of names)
      for (let i = 0; i < Math.min(50, n - done); i++) {
        const t0 = process.hrtime.bigint();
        await call(series[k]);
        out[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { process.stderr.write(String(err) + "\\n"); process.exit(1); });
`;

/** `interleaved` from a caller in another process: series name → [url, headers]. */
async function interleavedElsewhere(n: number, series: Record<string, [string, Record<string, string>]>): Promise<Record<string, number[]>> {
  const out = await new Promise<string>((resolveOut, reject) =>
    execFile(process.execPath, ["-e", SEQUENTIAL_CALLER, JSON.stringify(series), String(n), JSON.stringify({ value: "x".repeat(64) })], { maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      err ? reject(new Error(`the latency caller failed: ${stderr || err.message}`)) : resolveOut(stdout),
    ),
  );
  return JSON.parse(out) as Record<string, number[]>;
}

interface LoadResult {
  readonly rate: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU this process used, in cores (CPU seconds per wall second). */
  readonly cores: number;
  /** CPU this process used per answered request, microseconds. */
  readonly cpuPerReqUs: number;
}

/** Drives `url` from a child process for `seconds` and measures this process's CPU meanwhile. */
async function saturate(url: string, key: string, seconds: number, concurrency: number): Promise<LoadResult> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const out = await new Promise<string>((resolveOut, reject) =>
    execFile(process.execPath, ["-e", LOAD_GENERATOR, url, key, String(seconds), String(concurrency)], { maxBuffer: 1 << 20 }, (err, stdout) =>
      err ? reject(err) : resolveOut(stdout),
    ),
  );
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const r = JSON.parse(out) as { done: number; errors: number; p50: number; p99: number };
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return { rate: r.done / seconds, errors: r.errors, p50: r.p50, p99: r.p99, cores: cpuS / wall, cpuPerReqUs: (cpuS / Math.max(r.done, 1)) * 1e6 };
}

const FALCTL = resolve(__dirname, "../bin/falctl.cjs");

/** Resident memory of a process, MB (Linux /proc, else ps). */
function rssMb(pid: number): Promise<number> {
  const status = `/proc/${pid}/status`;
  if (existsSync(status)) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(status, "utf8"));
    return Promise.resolve(m ? Number(m[1]) / 1024 : NaN);
  }
  return new Promise((r) => execFile("ps", ["-o", "rss=", "-p", String(pid)], (_e, out) => r(Number(out.trim()) / 1024)));
}

/**
 * Starts the platform alone, as an operator does (`falctl platform start`),
 * in a child process, and reads its RSS once it listens and after 10 s idle.
 */
async function idleRss(dataDir: string, env: Record<string, string>): Promise<{ started: number; idle: number }> {
  const child = spawn(process.execPath, [FALCTL, "platform", "start", "--port", "0", "--data-dir", dataDir], {
    env: { ...process.env, FALPLANE_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // A pipe the child resets as it exits (seen once, ECONNRESET) must not end the bench: its output is only read for the start line.
  child.stdout!.on("error", () => undefined);
  child.stderr!.on("error", () => undefined);
  try {
    await new Promise<void>((ok, fail) => {
      let text = "";
      const timer = setTimeout(() => fail(new Error(`the platform did not start within 120 s:\n${text}`)), 120_000);
      const onData = (c: Buffer) => {
        text += c.toString();
        if (/listening on/.test(text)) {
          clearTimeout(timer);
          ok();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", (c: Buffer) => (text += c.toString()));
      child.once("exit", (code) => fail(new Error(`the platform exited (${code}):\n${text}`)));
    });
    await sleep(1000);
    const started = await rssMb(child.pid!);
    await sleep(10_000);
    return { started, idle: await rssMb(child.pid!) };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
  }
}

/** A PostgreSQL server the way the tests find one: TEST_DATABASE_URL, else a throwaway cluster; undefined with the reason when none. */
async function postgresServer(): Promise<{ url: string; cluster?: PostgresCluster } | { reason: string }> {
  if (process.env.TEST_DATABASE_URL) return { url: process.env.TEST_DATABASE_URL };
  const bin = findPostgresBin();
  if (!bin) return { reason: "no PostgreSQL server binaries (scripts/setup.cjs installs them as root)" };
  try {
    const cluster = await startPostgresCluster(bin);
    return { url: cluster.url, cluster };
  } catch (err) {
    return { reason: (err as Error).message.split("\n")[0] };
  }
}

interface Goal {
  readonly what: string;
  readonly figure: string;
  readonly goal: string;
  readonly met: boolean | undefined;
}

async function main() {
  const n = Number(process.env.BENCH_N ?? 2000);
  const dataDir = mkdtempSync(join(tmpdir(), "falplane-bench-"));
  // The platform logs at info, as it does by default, into /dev/null: a line costs what it costs in production, and is counted.
  const devNull = openSync("/dev/null", "w");
  let logLines = 0;
  // Batched as the platform's own stderr sink is (log.ts, batchedLines): a write per turn of the event loop.
  const toDevNull = batchedLines((chunk) => writeSync(devNull, chunk));
  const logger = createLogger("info", {}, (line) => {
    // What an app prints is the app's (runner output); the gateway's own lines are counted.
    if (!line.includes('"msg":"runner output"')) logLines++;
    toDevNull(line);
  });
  const platform = await startPlatform({ dataDir, port: 0, bootstrapKey: KEY, logger });
  process.stdout.write(
    `falplane benchmark — ${new Date().toISOString()}, N=${n} per latency series, ${platform.db.kind} store, ` +
      `node ${process.version}, ${cpus().length} CPUs\n\n`,
  );
  const client = new PlatformClient({ url: platform.url, key: KEY });
  const auth = { authorization: `Key ${KEY}` };
  const goals: Goal[] = [];
  const appDir = mkdtempSync(join(tmpdir(), "falplane-bench-app-"));
  try {
    // A trivial app (echoes its input, prints nothing): what is measured is the path, not the app.
    writeFileSync(
      join(appDir, "app.py"),
      'import falplane\n\n\nclass Echo(falplane.App):\n    @falplane.endpoint("/")\n    def run(self, input: dict) -> dict:\n        return input\n',
    );

    // ---- 1. sync latency
    await deployDir(client, { dir: appDir, sourceObject: "app.py::Echo", name: "echo", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 600 }, codeSettings: { max_multiplexing: 1 } });
    const [port] = await runnerPorts(client, platform, "echo", 1);
    const direct = `http://127.0.0.1:${port}/`;
    const proxy = await bareProxy([direct]);
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
    const payload = JSON.stringify({ value: "x".repeat(64) });

    // The caller in another process: the goal's figures.
    const linesBefore = logLines;
    const lat = await interleavedElsewhere(n, { direct: [direct, {}], bare: [proxyUrl, {}], gateway: [`${platform.url}/run/local/echo`, auth] });
    // Only the gateway series reaches the platform: its warm-up and timed calls.
    const perCall = (logLines - linesBefore) / (n + 50);
    // The same series from this process, as the bench measured before (for comparison only).
    const here = await interleaved(n, {
      direct: () => post(direct, payload),
      bare: () => post(proxyUrl, payload),
      gateway: () => post(`${platform.url}/run/local/echo`, payload, auth),
    });
    proxy.close();
    process.stdout.write("1. Synchronous call, trivial app echoing a small JSON body, sequential, keep-alive, the three series interleaved in rounds of 50\n");
    const ratios = (lat: Record<string, number[]>) => {
      const [dLat, pLat, gLat] = [lat.direct, lat.bare, lat.gateway];
      const added50 = pct(gLat, 50) - pct(dLat, 50);
      const added99 = pct(gLat, 99) - pct(dLat, 99);
      const floor50 = pct(pLat, 50) - pct(dLat, 50);
      const floor99 = pct(pLat, 99) - pct(dLat, 99);
      // A bare hop that adds less at p99 than at p50 means the tails are the machine's noise, not
      // the hop: no floor to divide by in this run (it happens on shared machines; run again).
      const x50 = added50 / Math.max(floor50, 1e-3);
      const x99 = floor99 >= floor50 ? added99 / floor99 : undefined;
      const row = (name: string, xs: number[]) =>
        `    ${name.padEnd(20)} p50 ${ms(pct(xs, 50)).padStart(10)}   p99 ${ms(pct(xs, 99)).padStart(10)}   (p50 ×${(pct(xs, 50) / pct(dLat, 50)).toFixed(2)} of direct)\n`;
      const x99Text = x99 === undefined ? "not measurable in this run (the bare hop's p99 floor is below its p50 floor: tail noise)" : `×${x99.toFixed(2)}`;
      const text =
        row("runner direct", dLat) +
        row("bare Node proxy hop", pLat) +
        row("falplane gateway", gLat) +
        `    gateway adds          p50 ${ms(added50)}, p99 ${ms(added99)}; the bare hop adds p50 ${ms(floor50)}, p99 ${ms(floor99)}\n` +
        `    → gateway overhead    p50 ×${x50.toFixed(2)}, p99 ${x99Text} of the bare-hop floor\n`;
      return { x50, x99, text };
    };
    const there = ratios(lat);
    const inside = ratios(here);
    process.stdout.write(
      `  the caller in another process (the goal's figures)\n${there.text}` +
        `  the caller in the platform's process (as measured before 2026-12-02; it also waits for the gateway's work after each answer)\n${inside.text}` +
        `  info log lines per gateway call: ${perCall.toFixed(2)}\n\n`,
    );
    const { x50, x99 } = there;
    goals.push({ what: "added latency p50 / bare-hop floor", figure: `×${x50.toFixed(2)} (caller in the platform's process: ×${inside.x50.toFixed(2)})`, goal: "≤ ×1.5", met: x50 <= 1.5 });
    goals.push({
      what: "added latency p99 / bare-hop floor",
      figure: x99 === undefined ? "not measurable (noise)" : `×${x99.toFixed(2)}${inside.x99 === undefined ? "" : ` (in-process: ×${inside.x99.toFixed(2)})`}`,
      goal: "≤ ×2",
      met: x99 === undefined ? undefined : x99 <= 2,
    });
    goals.push({ what: "info log lines per gateway call", figure: perCall.toFixed(2), goal: "≤ 1", met: perCall <= 1 });
    await client.deleteApp("echo");

    // ---- 2. throughput with 1 and 4 runners
    process.stdout.write("2. Throughput through the gateway, 10 ms of work per request, 16 concurrent callers, 5 s\n");
    const work = JSON.stringify({ sleep: 0.01 });
    const rates: number[] = [];
    for (const runners of [1, 4]) {
      const name = `work${runners}`;
      await deployWorker(client, { name, scaling: { min_concurrency: runners, max_concurrency: runners, keep_alive: 600 }, codeSettings: { max_multiplexing: 1 } });
      await runnerPorts(client, platform, name, runners);
      let done = 0;
      const until = Date.now() + 5000;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (Date.now() < until) {
            const r = await post(`${platform.url}/run/local/${name}`, work, auth);
            if (r.status === 200) done++;
          }
        }),
      );
      rates.push(done / 5);
      process.stdout.write(`  ${runners} runner(s)            ${(done / 5).toFixed(1).padStart(8)} req/s   (ideal ${(runners * 100).toFixed(0)} req/s at 10 ms each)\n`);
      await client.deleteApp(name);
    }
    process.stdout.write(`  scaling 1 → 4 runners   ×${(rates[1] / rates[0]).toFixed(2)}\n\n`);

    // ---- 3. saturation: a trivial app, enough runners, load from another process
    const runners = Number(process.env.BENCH_SAT_RUNNERS ?? 4);
    const callers = Number(process.env.BENCH_SAT_CALLERS ?? 32);
    const seconds = Number(process.env.BENCH_SAT_SECONDS ?? 5);
    await deployDir(client, {
      dir: appDir,
      sourceObject: "app.py::Echo",
      name: "trivial",
      scaling: { min_concurrency: runners, max_concurrency: runners, keep_alive: 600 },
      codeSettings: { max_multiplexing: Math.ceil(callers / runners) },
    });
    const ports = await runnerPorts(client, platform, "trivial", runners);
    const satProxy = await bareProxy(ports.map((p) => `http://127.0.0.1:${p}/`));
    const satProxyUrl = `http://127.0.0.1:${(satProxy.address() as AddressInfo).port}/`;
    await saturate(`${platform.url}/run/local/trivial`, KEY, 1, callers); // warm-up
    const bare = await saturate(satProxyUrl, "", seconds, callers);
    const gw = await saturate(`${platform.url}/run/local/trivial`, KEY, seconds, callers);
    satProxy.close();
    const satRow = (name: string, r: LoadResult) =>
      `  ${name.padEnd(22)} ${r.rate.toFixed(0).padStart(6)} req/s  p50 ${ms(r.p50).padStart(10)}  p99 ${ms(r.p99).padStart(10)}  ` +
      `CPU ${r.cores.toFixed(2)} cores, ${r.cpuPerReqUs.toFixed(0).padStart(4)} µs/request → ${(1e6 / r.cpuPerReqUs).toFixed(0)} req/s per core` +
      (r.errors ? `  (${r.errors} errors)` : "") +
      "\n";
    const perCore = 1e6 / gw.cpuPerReqUs;
    process.stdout.write(
      `3. Saturation: trivial app, ${runners} runners × ${Math.ceil(callers / runners)} slots, ${callers} callers in another process, ${seconds} s each; ` +
        `CPU = this process (the platform, in-process) during the run\n` +
        satRow("bare Node proxy hop", bare) +
        satRow("falplane gateway", gw) +
        `  gateway CPU per request ×${(gw.cpuPerReqUs / bare.cpuPerReqUs).toFixed(2)} of the bare hop's; ` +
        `one gateway core serves ${perCore.toFixed(0)} req/s, two ${(2 * perCore).toFixed(0)} req/s ` +
        `(measured req/s is bounded by the Python runners and the load generator on the same ${cpus().length} CPUs)\n\n`,
    );
    goals.push({
      what: "gateway saturation on 2 cores (from its CPU per request)",
      figure: `${(2 * perCore).toFixed(0)} req/s (1 core: ${perCore.toFixed(0)}; measured ${gw.rate.toFixed(0)} at ${gw.cores.toFixed(2)} cores)`,
      goal: "≥ 5000 req/s",
      met: 2 * perCore >= 5000,
    });
    await client.deleteApp("trivial");
  } finally {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
    closeSync(devNull);
    agent.destroy();
  }

  // ---- 4. idle memory of the platform alone
  process.stdout.write("4. Idle memory: `falctl platform start` alone in a child process, RSS 1 s after it listens and after 10 s more\n");
  const memDir = mkdtempSync(join(tmpdir(), "falplane-bench-mem-"));
  try {
    const first = await idleRss(join(memDir, "data"), { DATABASE_URL: "" });
    const again = await idleRss(join(memDir, "data"), { DATABASE_URL: "" });
    const pgliteMax = Math.max(first.started, first.idle, again.started, again.idle);
    process.stdout.write(
      `  PGlite, first start      ${first.started.toFixed(0).padStart(5)} MB, idle ${first.idle.toFixed(0).padStart(5)} MB\n` +
        `  PGlite, restart          ${again.started.toFixed(0).padStart(5)} MB, idle ${again.idle.toFixed(0).padStart(5)} MB\n`,
    );
    goals.push({ what: "idle RSS, PGlite (largest of the four)", figure: `${pgliteMax.toFixed(0)} MB`, goal: "≤ 400 MB", met: pgliteMax <= 400 });
    const pg = await postgresServer();
    if ("reason" in pg) {
      process.stdout.write(`  PostgreSQL               skipped: ${pg.reason}\n`);
      goals.push({ what: "idle RSS, PostgreSQL", figure: "not measured", goal: "≤ 150 MB", met: undefined });
    } else {
      const url = await createTestDatabase(pg.url);
      try {
        const r = await idleRss(join(memDir, "pg-data"), { DATABASE_URL: url });
        const pgMax = Math.max(r.started, r.idle);
        process.stdout.write(`  PostgreSQL               ${r.started.toFixed(0).padStart(5)} MB, idle ${r.idle.toFixed(0).padStart(5)} MB\n`);
        goals.push({ what: "idle RSS, PostgreSQL", figure: `${pgMax.toFixed(0)} MB`, goal: "≤ 150 MB", met: pgMax <= 150 });
      } finally {
        await dropTestDatabase(pg.url, url);
        pg.cluster?.stop();
      }
    }
  } finally {
    rmSync(memDir, { recursive: true, force: true });
  }

  process.stdout.write("\nGoals of issue #11 (figures from this run)\n");
  const w = Math.max(...goals.map((g) => g.what.length));
  const f = Math.max(...goals.map((g) => g.figure.length));
  for (const g of goals) {
    process.stdout.write(`  ${g.what.padEnd(w)}  ${g.figure.padEnd(f)}  goal ${g.goal.padEnd(13)} ${g.met === undefined ? "—" : g.met ? "met" : "NOT met"}\n`);
  }
  process.stdout.write("\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
