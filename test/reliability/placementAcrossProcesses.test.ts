/**
 * Several platform processes on one PostgreSQL: max_concurrency and
 * min_concurrency count an app's runners across all of them (not N × per
 * process), and `regions` decide which processes place an app's runners
 * (each process has its `--region`).
 */
import { afterEach, describe, expect, it } from "vitest";
import { startTestPlatform, testPostgresServer, type TestPlatform } from "../helpers/testPlatform";
import { createTestDatabase, dropTestDatabase } from "../helpers/postgres";
import { deployWorker } from "../helpers/deploy";
import { result, submit, waitDone } from "../helpers/queue";

const ACTIVE = "('PENDING', 'BUILDING', 'SETUP', 'IDLE', 'RUNNING')";
let cleanUp: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const f of cleanUp.reverse()) await f();
  cleanUp = [];
});

/** `regions.length` platform processes on one fresh PostgreSQL database, one per region. */
async function processes(regions: string[]): Promise<TestPlatform[]> {
  const server = testPostgresServer();
  const url = await createTestDatabase(server);
  cleanUp.push(() => dropTestDatabase(server, url));
  const out: TestPlatform[] = [];
  for (const region of regions) {
    const p = await startTestPlatform({ databaseUrl: url, region });
    cleanUp.push(() => p.stop());
    out.push(p);
  }
  return out;
}

async function activeRunners(p: TestPlatform): Promise<{ host: string; region: string }[]> {
  return p.db.query(`SELECT host, region FROM runners WHERE state IN ${ACTIVE}`);
}

describe("placement across platform processes", () => {
  it("min_concurrency and max_concurrency count runners across processes", async () => {
    const [a, b] = await processes(["local", "local"]);
    await deployWorker(a.client, { scaling: { min_concurrency: 2, max_concurrency: 2, keep_alive: 300 } });
    // Both processes keep the app warm; together they run min_concurrency runners, not twice that.
    await expect.poll(async () => (await activeRunners(a)).length, { timeout: 20_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await activeRunners(a)).length).toBe(2);

    // Under queued load, both processes serve, never more than max_concurrency runners in all.
    await a.client.updateApp("worker", "main", { scaling: { min_concurrency: 0, max_concurrency: 3 } });
    const t = { url: b.url, key: b.key, endpoint: "local/worker" };
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(t, { sleep: 0.5, value: i })));
    let most = 0;
    const watching = (async () => {
      for (let i = 0; i < 60; i++) {
        most = Math.max(most, (await activeRunners(a)).length);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    for (const id of ids) await waitDone(t, id);
    await watching;
    for (const id of ids) expect((await result(t, id)).status).toBe(200);
    expect(most).toBeLessThanOrEqual(3);
  }, 120_000);

  it("an app's runners are placed only by processes of its regions; the others answer 503 and leave its queue alone", async () => {
    const [us, eu] = await processes(["us", "eu"]);
    await deployWorker(us.client, { scaling: { regions: ["eu"], keep_alive: 300 } });

    const viaUs = await fetch(`${us.url}/run/local/worker`, {
      method: "POST",
      headers: { authorization: `Key ${us.key}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(viaUs.status).toBe(503);
    expect(((await viaUs.json()) as { detail: string }).detail).toContain("runs only in region(s) eu; this platform process serves region us");

    // Queued through the us process, served by the eu process.
    const t = { url: us.url, key: us.key, endpoint: "local/worker" };
    const id = await submit(t, { value: "from us" });
    await waitDone(t, id);
    expect((await result(t, id)).status).toBe(200);
    expect((await activeRunners(us)).map((r) => r.region)).toEqual(["eu"]);
    expect((await eu.client.listRunners("worker")).map((r) => r.region)).toEqual(["eu"]);
    expect((await us.client.platformInfo()).region).toBe("us");
  }, 120_000);
});
