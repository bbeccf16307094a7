/**
 * npm run bench — figures, not pass/fail. Everything is measured in one run on
 * this machine, and the gateway is reported against baselines measured in the
 * same run, because these machines are shared and noisy:
 *
 *  1. sync call latency: runner direct vs one bare Node proxy hop vs the gateway (p50, p99, ratios);
 *  2. queue submit-to-result latency (submit, poll status, fetch result);
 *  3. throughput through the gateway with 1 and 4 runners (10 ms of work per request);
 *  4. cold start: time to the first answer from zero runners minus the app's own setup time.
 */
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { startPlatform } from "../src/platform/startPlatform";
import { PlatformClient } from "../src/client/client";
import { createLogger } from "../src/platform/log";
import { deployWorker } from "../test/helpers/deploy";

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

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => `${x.toFixed(3)} ms`;

async function latency(label: string, n: number, fn: () => Promise<{ status: number }>): Promise<number[]> {
  for (let i = 0; i < 50; i++) await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 200) throw new Error(`${label}: status ${r.status}`);
  }
  return out;
}

/** One bare reverse-proxy hop in plain Node: the floor for any gateway written in Node. */
function bareProxy(target: string): Promise<http.Server> {
  const u = new URL(target);
  const upstream = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
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

async function main() {
  const n = Number(process.env.BENCH_N ?? 2000);
  const dataDir = mkdtempSync(join(tmpdir(), "falplane-bench-"));
  process.stdout.write(`falplane benchmark — ${new Date().toISOString()}, N=${n} per latency series, PGlite store\n\n`);
  const platform = await startPlatform({ dataDir, port: 0, bootstrapKey: KEY, logger: createLogger("error") });
  const client = new PlatformClient({ url: platform.url, key: KEY });
  const auth = { authorization: `Key ${KEY}` };
  try {
    // ---- 1. sync latency
    await deployWorker(client, { name: "echo", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 600 }, codeSettings: { max_multiplexing: 1 } });
    let port: number | undefined;
    for (let i = 0; i < 200 && !port; i++) {
      const rows = await platform.db.query<{ port: number }>("SELECT port FROM runners WHERE state = 'IDLE' AND port IS NOT NULL LIMIT 1");
      port = rows[0]?.port;
      if (!port) await new Promise((r) => setTimeout(r, 100));
    }
    if (!port) throw new Error("no idle runner");
    const direct = `http://127.0.0.1:${port}/`;
    const proxy = await bareProxy(direct);
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
    const payload = JSON.stringify({ value: "x".repeat(64) });

    const dLat = await latency("direct", n, () => post(direct, payload));
    const pLat = await latency("bare proxy", n, () => post(proxyUrl, payload));
    const gLat = await latency("gateway", n, () => post(`${platform.url}/run/local/echo`, payload, auth));
    proxy.close();
    const row = (name: string, xs: number[]) =>
      `  ${name.padEnd(22)} p50 ${ms(pct(xs, 50)).padStart(10)}   p99 ${ms(pct(xs, 99)).padStart(10)}   (p50 ×${(pct(xs, 50) / pct(dLat, 50)).toFixed(2)} of direct)\n`;
    process.stdout.write("1. Synchronous call, small JSON echo, sequential, keep-alive\n");
    process.stdout.write(row("runner direct", dLat) + row("bare Node proxy hop", pLat) + row("falplane gateway", gLat));
    const added50 = pct(gLat, 50) - pct(dLat, 50);
    const added99 = pct(gLat, 99) - pct(dLat, 99);
    const floor50 = pct(pLat, 50) - pct(dLat, 50);
    process.stdout.write(
      `  gateway adds            p50 ${ms(added50)}, p99 ${ms(added99)}; the bare hop adds p50 ${ms(floor50)} ` +
        `→ gateway overhead ×${(added50 / Math.max(floor50, 1e-6)).toFixed(2)} of the bare-hop floor\n\n`,
    );

    // ---- 2. queue submit → result
    const qLat: number[] = [];
    const qn = Math.min(300, n);
    for (let i = 0; i < qn + 20; i++) {
      const t0 = process.hrtime.bigint();
      const sub = JSON.parse((await post(`${platform.url}/queue/local/echo`, payload, auth)).body) as { request_id: string };
      for (;;) {
        const s = JSON.parse((await get(`${platform.url}/queue/local/echo/requests/${sub.request_id}/status`, auth)).body) as { status: string };
        if (s.status === "COMPLETED") break;
        await new Promise((r) => setTimeout(r, 1));
      }
      const r = await get(`${platform.url}/queue/local/echo/requests/${sub.request_id}`, auth);
      if (r.status !== 200) throw new Error(`queue result ${r.status}`);
      if (i >= 20) qLat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    process.stdout.write("2. Queue: submit → poll status (1 ms) → result, sequential\n");
    process.stdout.write(`  submit-to-result       p50 ${ms(pct(qLat, 50)).padStart(10)}   p99 ${ms(pct(qLat, 99)).padStart(10)}   (p50 ×${(pct(qLat, 50) / pct(dLat, 50)).toFixed(1)} of a direct call)\n\n`);

    // ---- 3. throughput with 1 and 4 runners
    process.stdout.write("3. Throughput through the gateway, 10 ms of work per request, 16 concurrent callers, 5 s\n");
    const work = JSON.stringify({ sleep: 0.01 });
    const rates: number[] = [];
    for (const runners of [1, 4]) {
      const name = `work${runners}`;
      await deployWorker(client, { name, scaling: { min_concurrency: runners, max_concurrency: runners, keep_alive: 600 }, codeSettings: { max_multiplexing: 1 } });
      for (let i = 0; i < 300; i++) {
        const live = (await client.listRunners(name)).filter((r) => r.state === "IDLE").length;
        if (live >= runners) break;
        await new Promise((r) => setTimeout(r, 100));
      }
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

    // ---- 4. cold start
    process.stdout.write("4. Cold start: first answer from zero runners minus the app's setup (WORKER_SETUP_SECONDS=0.5)\n");
    process.env.WORKER_SETUP_SECONDS = "0.5";
    const overheads: number[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `cold${i}`;
      await deployWorker(client, { name, scaling: { min_concurrency: 0, max_concurrency: 1 } });
      const t0 = Date.now();
      const r = await post(`${platform.url}/run/local/${name}`, payload, auth);
      if (r.status !== 200) throw new Error(`cold call ${r.status}`);
      overheads.push(Date.now() - t0 - 500);
      await client.deleteApp(name);
    }
    process.stdout.write(`  overhead per cold start: ${overheads.map((o) => `${o} ms`).join(", ")} (Python start + import + health polling)\n`);
  } finally {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
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
