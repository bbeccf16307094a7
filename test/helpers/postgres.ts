/**
 * PostgreSQL for the tests: a throwaway cluster that test/globalSetup.ts starts
 * once per `vitest run` (Debian's server binaries, a temp directory, a free
 * port on 127.0.0.1, trust auth), and a fresh database per test platform on it
 * so that tests running in parallel never share state.
 *
 * No vitest runtime import here: globalSetup loads this file in the main process.
 */
import { spawnSync, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What globalSetup hands the workers: a server URL, or why there is none. */
export interface TestPostgres {
  /** postgres://… of a server where the tests may CREATE DATABASE. */
  readonly url?: string;
  /** Where the URL came from, for messages. */
  readonly source?: "TEST_DATABASE_URL" | "throwaway cluster";
  /** Set when no server could be had: says what is missing and how to install it. */
  readonly error?: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    falplanePostgres: TestPostgres;
  }
}

export const POSTGRES_ROOT = "/usr/lib/postgresql";
const CLUSTER_PREFIX = "falplane-pg-";

export const POSTGRES_INSTALL_HINT =
  "Install Debian's PostgreSQL server with `apt-get update && apt-get install -y postgresql` " +
  "(`node scripts/setup.cjs`, which `npm test` runs, does this when it runs as root), " +
  "or set TEST_DATABASE_URL=postgres://user@host:port/db to a server you run (the role must be allowed to CREATE DATABASE).";

/** Directory of the newest installed PostgreSQL server binaries (`…/bin` holding initdb and pg_ctl), or undefined. */
export function findPostgresBin(root = POSTGRES_ROOT): string | undefined {
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a) || b.localeCompare(a));
  return versions.length ? join(root, versions[0], "bin") : undefined;
}

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly dir: string;
  readonly port: number;
  /** Stops the server and deletes its directory. Synchronous so it can run from an exit hook; idempotent. */
  stop(): void;
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** Runs a PostgreSQL program, as the `postgres` user when we are root (the server refuses to run as root). */
function pgRun(bin: string, args: string[], cwd: string, timeoutMs = 120_000): string {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { cwd, encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) throw new Error(`${bin} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${bin} ${args.join(" ")} exited with ${r.status}:\n${(r.stdout + r.stderr).trim()}`);
  }
  return r.stdout;
}

function postgresIds(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new Error("running as root, but there is no `postgres` user to run the server as (Debian's postgresql package creates it)");
  }
}

/** Makes `path` the postgres user's when we are root. */
function giveToPostgres(path: string): void {
  if (!isRoot()) return;
  const { uid, gid } = postgresIds();
  chownSync(path, uid, gid);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function stopClusterDir(bin: string, dir: string, mode: "fast" | "immediate" = "fast"): void {
  const data = join(dir, "data");
  if (existsSync(join(data, "postmaster.pid"))) {
    try {
      pgRun(join(bin, "pg_ctl"), ["-D", data, "-m", mode, "-w", "-t", "30", "stop"], dir, 60_000);
    } catch {
      if (mode === "fast") {
        try {
          pgRun(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"], dir, 60_000);
        } catch {
          // Not running any more.
        }
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Stops and deletes clusters an earlier test run left behind when it was
 * killed before its teardown ran (their owner process is gone).
 */
export function reapStaleClusters(bin: string, base = tmpdir()): number {
  let reaped = 0;
  for (const name of readdirSync(base)) {
    if (!name.startsWith(CLUSTER_PREFIX)) continue;
    const dir = join(base, name);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
    } catch {
      continue; // No owner recorded: not ours to judge.
    }
    if (!Number.isInteger(owner) || owner <= 0) continue;
    try {
      process.kill(owner, 0);
      continue; // Its owner still runs.
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") continue; // Alive, just not ours to signal.
    }
    stopClusterDir(bin, dir, "immediate");
    reaped++;
  }
  return reaped;
}

/**
 * Starts a throwaway PostgreSQL cluster: initdb in a temp directory, trust
 * auth for local and 127.0.0.1 connections only, listening on 127.0.0.1 on a
 * free port, durability off (it lives for one test run). On any failure it
 * cleans up after itself and throws with the server's own words.
 */
export async function startPostgresCluster(bin: string): Promise<PostgresCluster> {
  const dir = mkdtempSync(join(tmpdir(), CLUSTER_PREFIX));
  const data = join(dir, "data");
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  try {
    giveToPostgres(dir);
    pgRun(
      join(bin, "initdb"),
      ["-D", data, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-sync"],
      dir,
    );
    const hba = join(data, "pg_hba.conf");
    writeFileSync(hba, "# falplane test cluster: trust, loopback only\nlocal all all trust\nhost  all all 127.0.0.1/32 trust\n");
    giveToPostgres(hba);

    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const serverOpts = [
        `-p ${port}`,
        "-c listen_addresses=127.0.0.1",
        `-k ${dir}`,
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=300",
      ].join(" ");
      try {
        pgRun(join(bin, "pg_ctl"), ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "-s", "-o", serverOpts, "start"], dir);
      } catch (err) {
        // A port taken between our probe and the server's bind: try another.
        const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8") : "";
        lastErr = new Error(`${(err as Error).message}\n${log.trim().split("\n").slice(-10).join("\n")}`);
        if (/address already in use|could not bind|could not create any TCP\/IP sockets/i.test(log)) continue;
        throw lastErr;
      }
      let stopped = false;
      return {
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        dir,
        port,
        stop() {
          if (stopped) return;
          stopped = true;
          stopClusterDir(bin, dir);
        },
      };
    }
    throw lastErr;
  } catch (err) {
    stopClusterDir(bin, dir, "immediate");
    throw new Error(`could not start a throwaway PostgreSQL cluster with ${bin}: ${(err as Error).message}`);
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Creates a fresh, uniquely named database on the server of `serverUrl` and returns its URL. */
export async function createTestDatabase(serverUrl: string): Promise<string> {
  const { Client } = await import("pg");
  const name = `falplane_test_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Drops a database createTestDatabase made on `serverUrl` (best effort: it may already be gone with its cluster). */
export async function dropTestDatabase(serverUrl: string, databaseUrl: string): Promise<void> {
  const { Client } = await import("pg");
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ""));
  if (!name.startsWith("falplane_test_")) throw new Error(`refusing to drop ${name}: not a test database`);
  const admin = new Client({ connectionString: serverUrl });
  try {
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } catch {
    // Server gone or too old for FORCE: the database goes with the cluster.
  } finally {
    await admin.end().catch(() => undefined);
  }
}
