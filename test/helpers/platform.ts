/** Starts a platform for a test: temp data dir, free port, a known admin key, quiet logs. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform, type PlatformOptions, type RunningPlatform } from "../../src/platform/platform";
import { PlatformClient } from "../../src/client/client";
import { createLogger } from "../../src/platform/log";

export const TEST_ADMIN_KEY = "testadmin:test-admin-secret-0123456789";

export interface TestPlatform extends RunningPlatform {
  readonly key: string;
  readonly client: PlatformClient;
  readonly dataDir: string;
  /** Log lines the platform wrote (JSON objects). */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startTestPlatform(opts: PlatformOptions = {}): Promise<TestPlatform> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "falplane-test-"));
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger("info", {}, (line) => {
    logs.push(JSON.parse(line));
    if (process.env.FALPLANE_TEST_LOGS) process.stderr.write(line + "\n");
  });
  const p = await startPlatform({
    port: 0,
    dataDir,
    bootstrapKey: TEST_ADMIN_KEY,
    runnerGraceMs: 3000,
    logger,
    databaseUrl: process.env.TEST_DATABASE_URL ? await freshPostgres(process.env.TEST_DATABASE_URL) : undefined,
    ...opts,
  });
  const client = new PlatformClient({ url: p.url, key: TEST_ADMIN_KEY });
  return {
    ...p,
    key: TEST_ADMIN_KEY,
    client,
    dataDir,
    logs,
    async stop() {
      await p.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh database per test platform on the PostgreSQL server of TEST_DATABASE_URL,
 * so tests running in parallel never share state.
 */
async function freshPostgres(url: string): Promise<string> {
  const { Client } = await import("pg");
  const name = `falplane_test_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
