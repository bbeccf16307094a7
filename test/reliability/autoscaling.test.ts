/**
 * The autoscaler: scale from zero on the first request (which waits in the
 * queue, not fails), scale up under load to max_concurrency and no further,
 * and back down to min_concurrency after keep_alive.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { result, submit, waitDone, type QueueTarget } from "../helpers/queue";

let platform: TestPlatform;
let t: QueueTarget;

beforeAll(async () => {
  platform = await startTestPlatform();
  await deployWorker(platform.client, {
    strategy: "recreate",
    scaling: { min_concurrency: 0, max_concurrency: 3, keep_alive: 2 },
    codeSettings: { max_multiplexing: 1 },
  });
  t = { url: platform.url, key: platform.key, endpoint: "local/worker" };
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

const live = async () => (await platform.client.listRunners("worker")).filter((r) => ["PENDING", "SETUP", "IDLE", "RUNNING"].includes(r.state));

describe("autoscaler", () => {
  it("starts from zero runners: the first request waits in the queue and is answered", async () => {
    expect(await live()).toHaveLength(0);
    const id = await submit(t, { value: "cold" });
    await waitDone(t, id, 60_000);
    expect((await result(t, id)).body).toMatchObject({ value: "cold" });
  }, 90_000);

  it("scales up under load to max_concurrency, never beyond, and back down after keep_alive", async () => {
    const ids = await Promise.all(Array.from({ length: 9 }, (_, i) => submit(t, { sleep: 1, value: i })));
    let peak = 0;
    const watch = setInterval(async () => {
      peak = Math.max(peak, (await live().catch(() => [])).length);
    }, 100);
    try {
      for (const id of ids) await waitDone(t, id, 60_000);
    } finally {
      clearInterval(watch);
    }
    expect(peak).toBe(3);
    const runners = new Set<string>();
    for (const id of ids) runners.add(((await result(t, id)).body as { runner: string }).runner);
    expect(runners.size).toBe(3);
    // keep_alive is 2 s and min_concurrency 0: every runner stops.
    await expect.poll(async () => (await live()).length, { timeout: 20_000, interval: 250 }).toBe(0);
    // And the metrics saw the work.
    const metrics = await (await fetch(`${platform.url}/metrics`)).text();
    expect(metrics).toMatch(/falplane_request_outcomes_total\{mode="queue",outcome="ok"\} (1[0-9]|[2-9][0-9])/);
  }, 120_000);
});
