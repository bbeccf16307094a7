/**
 * The reliability suite: sync and queued traffic runs without pause while
 * the app goes through every kind of change an operator makes, and no
 * request fails except where docs/semantics.md says it may (a forced rollout
 * fails the sync calls in flight on the killed runners; queued ones are
 * retried). Phases, in order:
 *   rolling deploy → recreate deploy → rollback → graceful rollout →
 *   forced rollout → a rolling deploy whose setup crashes (refused; the alias
 *   stays) → scale to zero and back.
 */
import { appendFileSync, cpSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployDir, FIXTURE_APPS } from "../helpers/deploy";
import { result, submit, until, waitDone, type QueueTarget } from "../helpers/queue";
import { crashingAppSource, TempDirs } from "../helpers/support";

interface Outcome {
  readonly mode: "sync" | "queue";
  /** The phase the call started in (it is counted there). */
  readonly phase: string;
  /** The phase when it ended: a call started just before a forced rollout may end in it. */
  readonly endPhase?: string;
  readonly status: number;
  readonly detail?: string;
}

const dirs = new TempDirs();
let platform: TestPlatform;
let t: QueueTarget;
let phase = "warm";
const outcomes: Outcome[] = [];

/** A copy of the worker fixture that differs by a comment: a new revision of the same code. */
function workerVariant(n: number): string {
  const d = dirs.make("worker-variant-");
  cpSync(join(FIXTURE_APPS, "worker"), d, { recursive: true });
  appendFileSync(join(d, "app.py"), `\n# variant ${n}\n`);
  return d;
}

const worker = (dir: string, strategy: "rolling" | "recreate") =>
  deployDir(platform.client, {
    dir,
    sourceObject: "app.py::Worker",
    name: "steady",
    strategy,
    scaling: { max_concurrency: 3, min_concurrency: 1, keep_alive: 30, request_timeout: 120 },
  });

/** Runs sync or queued calls back to back until stopped; records every outcome under the phase it started in. */
function traffic(mode: "sync" | "queue"): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = phase;
      try {
        if (mode === "sync") {
          const res = await fetch(`${platform.url}/run/local/steady`, {
            method: "POST",
            headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
            body: JSON.stringify({ sleep: 0.2, value: started }),
          });
          const text = await res.text();
          outcomes.push({ mode, phase: started, endPhase: phase, status: res.status, detail: res.status === 200 ? undefined : text.slice(0, 300) });
        } else {
          const id = await submit(t, { sleep: 0.2, value: started });
          await waitDone(t, id, 120_000);
          const r = await result(t, id);
          outcomes.push({ mode, phase: started, status: r.status, detail: r.status === 200 ? undefined : JSON.stringify(r.body).slice(0, 300) });
        }
      } catch (err) {
        outcomes.push({ mode, phase: started, status: 0, detail: String(err) });
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const runnersOf = async () => (await platform.client.listRunners("steady")).filter((r) => r.state !== "TERMINATED" && r.state !== "DEAD");

beforeAll(async () => {
  platform = await startTestPlatform();
  t = { url: platform.url, key: platform.key, endpoint: "local/steady" };
  await worker(workerVariant(0), "recreate");
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  dirs.removeAll();
});

describe("continuous traffic across every kind of change", () => {
  it("loses no request, sync or queued, except the sync calls a forced rollout kills", async () => {
    const loops = [traffic("sync"), traffic("sync"), traffic("queue"), traffic("queue")];
    const first = (await platform.client.findApp("steady"))!.revision!;
    try {
      await settle(1500);

      phase = "rolling";
      await worker(workerVariant(1), "rolling");
      await settle(1500);

      phase = "recreate";
      await worker(workerVariant(2), "recreate");
      await settle(1500);

      phase = "rollback";
      await platform.client.updateApp("steady", "main", { revision_id: first });
      await settle(1500);

      phase = "graceful-rollout";
      await platform.client.rollout("steady", "main", false);
      await settle(1500);

      phase = "forced-rollout";
      await platform.client.rollout("steady", "main", true);
      await settle(1500);

      phase = "setup-crash";
      const broken = dirs.app(crashingAppSource("weights missing on purpose"));
      const refused = await deployDir(platform.client, { dir: broken, sourceObject: "app.py::Broken", name: "steady", strategy: "rolling" }).then(
        () => false,
        () => true,
      );
      expect(refused, "a rolling deploy whose setup crashes is refused").toBe(true);
      expect((await platform.client.findApp("steady"))!.revision).toBe(first);
      await settle(1500);
    } finally {
      await Promise.all(loops.map((l) => l.stop()));
    }

    // Scale to zero: no traffic, no runners; then traffic again from cold.
    phase = "scale-to-zero";
    await platform.client.updateApp("steady", "main", { scaling: { min_concurrency: 0, keep_alive: 1 } });
    await until(async () => (await runnersOf()).length === 0, 60_000, "no runners left");
    const cold = [traffic("sync"), traffic("queue")];
    await settle(4000);
    await Promise.all(cold.map((l) => l.stop()));

    const byPhase = new Map<string, { ok: number; failed: Outcome[] }>();
    for (const o of outcomes) {
      const p = byPhase.get(o.phase) ?? { ok: 0, failed: [] };
      if (o.status === 200) p.ok++;
      else p.failed.push(o);
      byPhase.set(o.phase, p);
    }
    const summary = Object.fromEntries([...byPhase].map(([k, v]) => [k, { ok: v.ok, failed: v.failed.length }]));
    process.stdout.write(`continuous traffic: ${JSON.stringify(summary)}\n`);
    for (const o of outcomes.filter((x) => x.status !== 200)) process.stdout.write(`  failed: ${JSON.stringify(o)}\n`);

    for (const name of ["warm", "rolling", "recreate", "rollback", "graceful-rollout", "forced-rollout", "setup-crash", "scale-to-zero"]) {
      const p = byPhase.get(name);
      expect(p?.ok ?? 0, `requests answered during ${name}`).toBeGreaterThan(0);
      // The one documented loss: sync calls in flight on runners a forced rollout kills (502).
      const killed = (o: Outcome) => o.mode === "sync" && o.status === 502 && (o.phase === "forced-rollout" || o.endPhase === "forced-rollout");
      const allowed = p!.failed.filter((o) => !killed(o));
      expect(allowed, `failed requests during ${name}`).toEqual([]);
    }
  }, 300_000);
});
