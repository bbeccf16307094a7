/**
 * npm run bench (part) — what a big queued body costs everyone else: the
 * latency of /run calls to a small app while a 30 MB body is submitted to
 * another app's queue and processed, against the same calls with no big body,
 * both measured in this run (PGlite store, where one big statement used to
 * stall every other query).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform } from "../src/platform/startPlatform";
import { PlatformClient } from "../src/client/client";
import { createLogger } from "../src/platform/log";
import { deployWorker } from "../test/helpers/deploy";

const KEY = "bench:bench-secret-0123456789";
const auth = { authorization: `Key ${KEY}`, "content-type": "application/json" };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "falplane-bench-big-"));
  const platform = await startPlatform({ dataDir, port: 0, bootstrapKey: KEY, logger: createLogger("error") });
  const client = new PlatformClient({ url: platform.url, key: KEY });
  const run = async () => {
    const t0 = performance.now();
    const res = await fetch(`${platform.url}/run/local/small`, { method: "POST", headers: auth, body: '{"value":1}' });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`/run answered ${res.status}`);
    return performance.now() - t0;
  };
  try {
    for (const name of ["small", "big"]) {
      await deployWorker(client, { name, scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 600 } });
    }
    for (let i = 0; i < 20; i++) await run();
    const quiet: number[] = [];
    const until = Date.now() + 5000;
    while (Date.now() < until) quiet.push(await run());

    const body = JSON.stringify({ value: "x".repeat(30_000_000) });
    const t0 = performance.now();
    let done = false;
    const big = (async () => {
      const sub = (await (await fetch(`${platform.url}/queue/local/big`, { method: "POST", headers: auth, body })).json()) as { request_id: string };
      const accepted = performance.now() - t0;
      for (;;) {
        const s = (await (await fetch(`${platform.url}/queue/local/big/requests/${sub.request_id}/status`, { headers: auth })).json()) as { status: string };
        if (s.status === "COMPLETED") break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const res = await fetch(`${platform.url}/queue/local/big/requests/${sub.request_id}`, { headers: auth });
      const bytes = (await res.arrayBuffer()).byteLength;
      return { accepted, completed: performance.now() - t0, bytes };
    })().finally(() => (done = true));
    const busy: number[] = [];
    while (!done) busy.push(await run());
    const b = await big;

    const line = (label: string, xs: number[]) =>
      `  ${label.padEnd(30)} n=${String(xs.length).padStart(5)}  p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms  p99 ${pct(xs, 99).toFixed(1).padStart(7)} ms  max ${Math.max(...xs).toFixed(1).padStart(7)} ms\n`;
    process.stdout.write("5. /run latency of a small app while a 30 MB body is queued to another app (PGlite)\n");
    process.stdout.write(line("no big body", quiet) + line("30 MB body queued + processed", busy));
    process.stdout.write(
      `  ratio busy/quiet: p50 ×${(pct(busy, 50) / pct(quiet, 50)).toFixed(2)}, p99 ×${(pct(busy, 99) / pct(quiet, 99)).toFixed(2)}, ` +
        `max ×${(Math.max(...busy) / Math.max(...quiet)).toFixed(2)}\n` +
        `  the 30 MB request: accepted in ${b.accepted.toFixed(0)} ms, result (${(b.bytes / 1e6).toFixed(1)} MB) ready after ${b.completed.toFixed(0)} ms\n`,
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
