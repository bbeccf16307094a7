/**
 * The platform's state outlives its process: stopped and started again on the
 * same data directory (and, for PostgreSQL, the same database) it still has
 * its environments, apps, aliases, revisions and keys, and serves the apps.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestPlatform, testPostgresServer, type TestPlatform } from "../helpers/testPlatform";
import { createTestDatabase, dropTestDatabase } from "../helpers/postgres";
import { PlatformClient } from "../../src/client/client";
import { DATABASES, TempDirs, deploy } from "../helpers/support";

describe.each(DATABASES)("restarting the platform on %s", (database) => {
  const dirs = new TempDirs();
  let dataDir: string | undefined;
  let server: string | undefined;
  let databaseUrl: string | undefined;
  let current: TestPlatform | undefined;

  afterAll(async () => {
    await current?.stop();
    if (server && databaseUrl) await dropTestDatabase(server, databaseUrl);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dirs.removeAll();
  });

  /** Same data dir, and for PostgreSQL the same database, on every start. */
  async function start(): Promise<TestPlatform> {
    dataDir ??= mkdtempSync(join(tmpdir(), "falplane-restart-"));
    if (database === "postgres" && !databaseUrl) {
      server = testPostgresServer();
      databaseUrl = await createTestDatabase(server);
    }
    current = await startTestPlatform({ database, dataDir, databaseUrl });
    expect(current.db.kind).toBe(database);
    return current;
  }

  it("keeps environments, apps, revisions and keys, and serves the apps again", async () => {
    const first = await start();
    await first.client.createEnvironment("prod");
    const { revision } = await deploy(first.client, "survivor", "prod", dirs.example(), { authMode: "shared", scaling: { max_concurrency: 3 } });
    const k = await first.client.createKey("API", "kept");
    const apiKey = `${k.key_id}:${k.key_secret}`;
    const before = await new PlatformClient({ url: first.url, key: apiKey }).run("local/survivor--prod", { prompt: "ONE" });
    expect(before.status).toBe(200);
    await first.stop();
    current = undefined;

    const second = await start();
    expect((await second.client.listEnvironments()).map((e) => e.name)).toEqual(["main", "prod"]);
    const app = await second.client.getApp("survivor", "prod");
    expect(app).toMatchObject({ revision: revision.id, auth_mode: "shared", endpoint_id: "local/survivor--prod" });
    expect(app.scaling.max_concurrency).toBe(3);
    expect((await second.client.getRevision(revision.id)).status).toBe("Deployed");
    expect((await second.client.listKeys()).map((x) => x.key_id)).toContain(k.key_id);
    // The bootstrap key was not made again: still one admin key plus the API key.
    expect(second.createdAdminKey).toBeUndefined();

    // No runner of the stopped process is shown as live.
    expect(await second.client.listRunners("survivor", "prod")).toEqual([]);

    // The key made before the restart still calls the app; a runner starts on demand.
    const after = await new PlatformClient({ url: second.url, key: apiKey }).run("local/survivor--prod", { prompt: "TWO" });
    expect(after.status).toBe(200);
    expect((after.body as { image: string }).image.split("\n")).toHaveLength(7);
  });
});
