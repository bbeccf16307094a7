/** Starts a platform for a test: temp data dir, free port, a known admin key, quiet logs. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform, type PlatformOptions, type RunningPlatform } from "../../src/platform/startPlatform";
import { PlatformClient } from "../../src/client/client";
import { createLogger } from "../../src/platform/log";
import { inject } from "vitest";
import { createTestDatabase, dropTestDatabase } from "./postgres";

export const TEST_ADMIN_KEY = "testadmin:test-admin-secret-0123456789";

export interface TestPlatform extends RunningPlatform {
  readonly key: string;
  readonly client: PlatformClient;
  readonly dataDir: string;
  /** Log lines the platform wrote (JSON objects). */
  readonly logs: Record<string, unknown>[];
  /** The PostgreSQL database it runs on; undefined on PGlite. */
  readonly databaseUrl?: string;
  stop(): Promise<void>;
}

export interface TestPlatformOptions extends PlatformOptions {
  /**
   * `pglite`: embedded, in the data dir. `postgres`: a fresh database on the
   * test PostgreSQL server (test/globalSetup.ts), dropped on stop; fails with
   * how to install PostgreSQL when there is none. Default: PostgreSQL when
   * TEST_DATABASE_URL is set, else PGlite. An explicit `databaseUrl` wins.
   */
  readonly database?: "pglite" | "postgres";
}

/** URL of the test PostgreSQL server that globalSetup found or started; throws how to get one otherwise. */
export function testPostgresServer(): string {
  const pg = inject("falplanePostgres");
  if (pg?.url) return pg.url;
  throw new Error(`no PostgreSQL server for the tests: ${pg?.error ?? "test/globalSetup.ts did not run (start tests with vitest)"}`);
}

export async function startTestPlatform(opts: TestPlatformOptions = {}): Promise<TestPlatform> {
  const { database, ...platformOpts } = opts;
  let databaseUrl = opts.databaseUrl;
  let dropOnStop: { server: string; url: string } | undefined;
  if (!databaseUrl && (database === "postgres" || (!database && process.env.TEST_DATABASE_URL))) {
    const server = database === "postgres" ? testPostgresServer() : process.env.TEST_DATABASE_URL!;
    databaseUrl = await createTestDatabase(server);
    dropOnStop = { server, url: databaseUrl };
  }
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "falplane-test-"));
  const cleanUp = async () => {
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (dropOnStop) await dropTestDatabase(dropOnStop.server, dropOnStop.url);
  };
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
    // The worker fixture's knobs reach its runners the way an operator passes variables (--runner-env).
    runnerEnv: ["WORKER_SETUP_SECONDS", "WORKER_LEDGER"],
    logger,
    ...platformOpts,
    // "" keeps PGlite even when DATABASE_URL is set in the environment.
    databaseUrl: databaseUrl ?? (database === "pglite" ? "" : undefined),
  }).catch(async (err) => {
    await cleanUp();
    throw err;
  });
  if (database && p.db.kind !== database) {
    await p.close();
    await cleanUp();
    throw new Error(`asked for a ${database} platform, got ${p.db.kind}`);
  }
  const client = new PlatformClient({ url: p.url, key: TEST_ADMIN_KEY });
  return {
    ...p,
    key: TEST_ADMIN_KEY,
    client,
    dataDir,
    logs,
    databaseUrl: p.db.kind === "postgres" ? databaseUrl : undefined,
    async stop() {
      await p.close();
      await cleanUp();
    },
  };
}
