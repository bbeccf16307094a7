/**
 * Several platform processes on one PostgreSQL share the queue: 1,000
 * requests submitted to either process are all answered, none served twice
 * (the worker fixture records every attempt it starts), and max_concurrency
 * holds across both processes (placementAcrossProcesses.test.ts has more).
 */
import { afterAll, describe, expect, it, inject } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { PlatformClient } from "../../src/client/client";
import { startPlatformProcess, type PlatformProcess } from "../helpers/platformProcess";
import { createTestDatabase, dropTestDatabase } from "../helpers/postgres";
import { deployWorker } from "../helpers/deploy";
import { readLedger, submit } from "../helpers/queue";
import { TEST_ADMIN_KEY } from "../helpers/testPlatform";

const work = mkdtempSync(join(tmpdir(), "falplane-shared-"));
const running: PlatformProcess[] = [];
let dbUrl: string | undefined;
let serverUrl: string | undefined;

afterAll(async () => {
  for (const p of running) await p.stop();
  if (serverUrl && dbUrl) await dropTestDatabase(serverUrl, dbUrl).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe("two platform processes on one PostgreSQL", () => {
  it("serve 1,000 queued requests with none served twice and none lost", async () => {
    const pg = inject("falplanePostgres");
    if (!pg.url) throw new Error(`PostgreSQL is needed for this test: ${pg.error}`);
    serverUrl = pg.url;
    dbUrl = await createTestDatabase(pg.url);
    const ledger = join(work, "ledger.txt");
    const env = { DATABASE_URL: dbUrl, WORKER_LEDGER: ledger, WORKER_SETUP_SECONDS: "0.1" };

    // Runners see only what the operator passes them: the worker's knobs, and the ledger's folder to write.
    const args = ["--runner-env", "WORKER_LEDGER,WORKER_SETUP_SECONDS", "--runner-shared-dir", work];
    const a = await startPlatformProcess({ dataDir: join(work, "a"), key: TEST_ADMIN_KEY, env, args });
    running.push(a);
    const b = await startPlatformProcess({ dataDir: join(work, "b"), key: TEST_ADMIN_KEY, env, args });
    running.push(b);
    await deployWorker(new PlatformClient({ url: a.url, key: TEST_ADMIN_KEY }), {
      scaling: { max_concurrency: 2, keep_alive: 120 },
      codeSettings: { max_multiplexing: 4 },
    });

    const total = 1000;
    const ids: string[] = [];
    for (let batch = 0; batch < total / 50; batch++) {
      const target = batch % 2 === 0 ? a : b;
      ids.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, (_, i) => submit({ url: target.url, key: TEST_ADMIN_KEY, endpoint: "local/worker" }, { value: batch * 50 + i })),
        )),
      );
    }
    expect(new Set(ids).size).toBe(total);

    const db = new Client({ connectionString: dbUrl });
    await db.connect();
    try {
      await expect
        .poll(async () => Number((await db.query("SELECT count(*) AS n FROM requests WHERE status = 'COMPLETED'")).rows[0].n), {
          timeout: 150_000,
          interval: 500,
        })
        .toBe(total);
      const ok = await db.query("SELECT count(*) AS n FROM requests WHERE result_status = 200");
      expect(Number(ok.rows[0].n)).toBe(total);
      // max_concurrency counts across both processes: at most 2 runners served, wherever they ran.
      const runners = await db.query(
        `SELECT count(DISTINCT ru.id) AS n FROM requests r JOIN runners ru ON ru.id = r.runner_id WHERE r.status = 'COMPLETED'`,
      );
      expect(Number(runners.rows[0].n)).toBeGreaterThan(0);
      expect(Number(runners.rows[0].n)).toBeLessThanOrEqual(2);
    } finally {
      await db.end();
    }

    // Each request was started exactly once across all runners of both processes.
    const served = readLedger(readFileSync(ledger, "utf8"));
    expect(served.size).toBe(total);
    const twice = [...served.entries()].filter(([, runners]) => runners.length > 1);
    expect(twice).toEqual([]);
    expect([...served.keys()].sort()).toEqual([...ids].sort());
  }, 240_000);
});
