/**
 * The queue's submit path without its former statements (docs/queue.md,
 * "Submitting"; docs/performance.md, "Queue and cold start"): the insert
 * tells where the request went and its queue position; the owner quotas
 * count exactly only when the last count is old or near a limit, and refuse
 * with the same error as before; this process's changes to a request reach
 * its watchers (the status stream) without a poll.
 */
import { afterAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import type { Db, Queryable } from "../../src/platform/store/db";
import * as qs from "../../src/platform/store/queueStore";
import { DEFAULT_LIMITS, type RequestLimits } from "../../src/platform/gateway/limits";
import { REFRESH_MS, addedToQuota, checkSubmitQuota } from "../../src/platform/queue/ownerQuota";
import { PlatformError } from "../../src/platform/errors";
import { DATABASES, beforeAllOrFailEach, openTestDb } from "../helpers/support";
import { migrate } from "../../src/platform/store/migrations";

function newRequest(appId: string, owner = "submit-test"): qs.NewRequest {
  return {
    id: randomUUID(),
    appId,
    owner,
    alias: "app",
    path: "/",
    payload: { inline: Buffer.from("{}"), ref: null, size: 2 },
    contentType: "application/json",
    caller: null,
    webhookUrl: null,
    noRetry: false,
    startTimeoutS: null,
  };
}

describe.each(DATABASES)("submit path on %s", (database) => {
  let db: Db;
  let close: () => Promise<void>;

  beforeAllOrFailEach(async () => {
    ({ db, close } = await openTestDb(database));
    await migrate(db);
    await db.query("INSERT INTO environments (owner, name) VALUES ('submit-test', 'main') ON CONFLICT DO NOTHING");
  });
  afterAll(async () => {
    await close?.();
  });

  async function newApp(): Promise<{ appId: string; revisionId: string }> {
    const appId = randomUUID();
    const revisionId = randomUUID();
    await db.query(
      "INSERT INTO apps (id, owner, name, environment, scaling, current_revision) VALUES ($1, 'submit-test', $2, 'main', '{}'::jsonb, $3)",
      [appId, `app-${appId.slice(0, 8)}`, revisionId],
    );
    return { appId, revisionId };
  }

  it("an insert answers where the request went: queued behind the requests already waiting, or claimed at position 0", async () => {
    const { appId, revisionId } = await newApp();
    expect(await qs.insertRequest(db, newRequest(appId))).toEqual({ status: "IN_QUEUE", queuePosition: 0 });
    expect(await qs.insertRequest(db, newRequest(appId))).toEqual({ status: "IN_QUEUE", queuePosition: 1 });

    // A free runner offered while requests wait: declined, queued behind them.
    const outcomes: string[] = [];
    const offer = (): qs.DirectClaim => ({
      runnerId: "runner-1",
      revisionId,
      owner: "test-owner",
      leaseMs: 15_000,
      claimed: () => outcomes.push("claimed"),
      declined: () => outcomes.push("declined"),
    });
    const undo = qs.setDirectClaimer(db, offer);
    try {
      const third = newRequest(appId);
      expect(await qs.insertRequest(db, third)).toEqual({ status: "IN_QUEUE", queuePosition: 2 });
      expect(outcomes).toEqual(["declined"]);
      // The position the status endpoint computes agrees.
      expect(await qs.queuePosition(db, (await qs.getRequestStatus(db, third.id))!)).toBe(2);

      // Nothing waiting: claimed in its insert.
      const other = await newApp();
      const undo2 = qs.setDirectClaimer(db, () => ({ ...offer(), revisionId: other.revisionId }));
      const claimed = newRequest(other.appId);
      expect(await qs.insertRequest(db, claimed)).toEqual({ status: "IN_PROGRESS", queuePosition: 0 });
      expect(outcomes).toEqual(["declined", "claimed"]);
      expect((await qs.getRequestStatus(db, claimed.id))?.status).toBe("IN_PROGRESS");
      undo2();
    } finally {
      undo();
    }
  });

  it("claims, completions and requeues of this process reach the request's watchers, and its app's", async () => {
    const { appId, revisionId } = await newApp();
    const a = newRequest(appId);
    const b = newRequest(appId);
    await qs.insertRequest(db, a);
    await qs.insertRequest(db, b);
    const seenA: boolean[] = [];
    const seenB: boolean[] = [];
    const offA = qs.watchRequest(db, a.id, appId, (own) => seenA.push(own));
    const offB = qs.watchRequest(db, b.id, appId, (own) => seenB.push(own));
    try {
      const row = await qs.claimNext(db, appId, revisionId, "runner-1", "test-owner", 15_000);
      expect(row?.id).toBe(a.id);
      await expect.poll(() => seenA.length).toBe(2); // its own change, and its app's
      expect(seenA).toContain(true);
      expect(seenB).toEqual([false]); // b's position moved
      await qs.requeue(db, a.id, "test-owner", "runner-1", []);
      await expect.poll(() => seenA.filter((own) => own).length).toBe(2);
      const own = () => seenA.filter((o) => o).length + seenB.filter((o) => o).length;
      const held = (await qs.claimNext(db, appId, revisionId, "runner-2", "test-owner", 15_000))!.id;
      await expect.poll(own).toBe(3);
      await qs.complete(db, held, "test-owner", { status: 200, body: { inline: Buffer.from("{}"), ref: null, size: 2 }, contentType: "application/json", logs: [] });
      await expect.poll(own).toBe(4);
    } finally {
      offA();
      offB();
    }
  });
});

describe("owner quotas on the submit path", () => {
  /** A store whose owner counts the test sets, counting the exact counts it is asked for. */
  function fakeStore(usage: { bytes: number; waiting: number }) {
    const store = {
      counts: 0,
      async query<T>(sql: string): Promise<T[]> {
        if (!sql.includes("FILTER (WHERE status = 'IN_QUEUE')")) throw new Error(`unexpected statement: ${sql}`);
        store.counts++;
        return [{ bytes: String(usage.bytes), waiting: String(usage.waiting) }] as T[];
      },
    };
    return store as Queryable & { counts: number };
  }
  const limits: RequestLimits = { ...DEFAULT_LIMITS, ownerQueueLimit: 1000, ownerStorageQuotaBytes: 1024 ** 3 };

  it("counts once a second while far from the limits, counting this process's submits in between", async () => {
    const usage = { bytes: 0, waiting: 10 };
    const db = fakeStore(usage);
    const t0 = 1_000_000;
    await checkSubmitQuota(db, "o", 100, limits, t0);
    expect(db.counts).toBe(1);
    for (let i = 0; i < 50; i++) {
      await checkSubmitQuota(db, "o", 100, limits, t0 + i);
      addedToQuota(db, "o", 100, true);
    }
    expect(db.counts).toBe(1);
    await checkSubmitQuota(db, "o", 100, limits, t0 + REFRESH_MS);
    expect(db.counts).toBe(2);
  });

  it("counts exactly on every submit near a limit, and refuses with the same error as the exact check", async () => {
    const usage = { bytes: 0, waiting: 950 };
    const db = fakeStore(usage);
    const t0 = 2_000_000;
    await checkSubmitQuota(db, "o", 100, limits, t0);
    await checkSubmitQuota(db, "o", 100, limits, t0 + 1);
    expect(db.counts).toBe(2);
    // Another process filled the queue meanwhile: refused, by an exact count.
    usage.waiting = 1000;
    const err = await checkSubmitQuota(db, "o", 100, limits, t0 + 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).status).toBe(429);
    expect((err as PlatformError).code).toBe("queue_limit");
    expect((err as PlatformError).message).toBe("owner 'o' already has 1000 requests waiting; the limit is 1000");
  });

  it("refuses at once when another process filled the queue and the last count is a second old", async () => {
    const usage = { bytes: 0, waiting: 0 };
    const db = fakeStore(usage);
    const t0 = 3_000_000;
    await checkSubmitQuota(db, "o", 100, limits, t0);
    usage.waiting = 1000;
    await checkSubmitQuota(db, "o", 100, limits, t0 + 10); // on the count of 10 ms ago: far from the limit
    await expect(checkSubmitQuota(db, "o", 100, limits, t0 + REFRESH_MS)).rejects.toMatchObject({ code: "queue_limit" });
  });

  it("near the storage quota, also counts exactly and refuses with storage_quota", async () => {
    const usage = { bytes: limits.ownerStorageQuotaBytes - 1000, waiting: 0 };
    const db = fakeStore(usage);
    await checkSubmitQuota(db, "o", 500, limits, 4_000_000);
    await expect(checkSubmitQuota(db, "o", 2000, limits, 4_000_001)).rejects.toMatchObject({ code: "storage_quota" });
    expect(db.counts).toBe(2);
  });
});
