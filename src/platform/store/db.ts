/**
 * One small database interface over two engines: PGlite (Postgres compiled to
 * WASM, embedded, data directory on disk) and PostgreSQL (selected by
 * DATABASE_URL). Both speak the same SQL, so the rest of the platform never
 * asks which one it has.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { escapeIdentifier, escapeLiteral } from "pg";

export interface Queryable {
  /**
   * Runs one statement with $1-style parameters and returns its rows.
   * `name` makes it a named prepared statement, parsed and planned once per
   * connection instead of on every call (for the queue's hot statements: on
   * PGlite planning the direct-claim insert took twice as long as running
   * it); one name must always go with the same text.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], name?: string): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly kind: "pglite" | "postgres";
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs several statements separated by semicolons (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
  /**
   * PostgreSQL only (absent on PGlite, where one process owns the data):
   * calls onMessage with the payload of each NOTIFY on `channel`, over a
   * connection of its own that is opened again when it drops; onState tells
   * whether it listens now. Notices sent while it did not listen are lost,
   * so a listener must also poll. Returns the stop function.
   */
  listen?(channel: string, onMessage: (payload: string) => void, onState?: (listening: boolean) => void): () => Promise<void>;
}

export interface DbOptions {
  /** postgres://… selects PostgreSQL; absent selects PGlite in dataDir. */
  readonly databaseUrl?: string;
  /** Directory for PGlite's files. */
  readonly dataDir: string;
}

export async function openDb(opts: DbOptions): Promise<Db> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl);
  return openPglite(opts.dataDir);
}

/**
 * PGlite's own start parameters (its defaults) plus a smaller shared buffer
 * pool: PostgreSQL's default 128 MB is touched at start-up, so it all counts
 * towards the platform's resident memory; the platform's tables are small and
 * PGlite reads through the OS page cache, so 32 MB is plenty
 * (docs/performance.md, "Idle memory").
 */
export const PGLITE_START_PARAMS: readonly string[] = [
  "--single", "-F", "-O", "-j",
  "-c", "search_path=public",
  "-c", "exit_on_error=false",
  "-c", "log_checkpoints=false",
  "-c", "max_worker_processes=0",
  "-c", "max_parallel_workers=0",
  "-c", "max_parallel_workers_per_gather=0",
  "-c", "io_method=sync",
  "-c", "max_parallel_maintenance_workers=0",
  "-c", "shared_buffers=32MB",
];

/**
 * Creates a new PGlite data directory (initdb) in a short-lived child process.
 * initdb runs a second WebAssembly instance whose few hundred MB would stay
 * in this process until a major garbage collection, which an idle platform
 * may not run for hours. False when the child could not do it: the caller
 * then creates it in-process as before.
 */
function initPgliteInChild(dataDir: string): boolean {
  if (existsSync(join(dataDir, "PG_VERSION"))) return true;
  let entry: string;
  try {
    entry = require.resolve("@electric-sql/pglite");
  } catch {
    return false;
  }
  const script =
    "const { PGlite } = require(process.argv[1]);" +
    "PGlite.create(process.argv[2], { startParams: JSON.parse(process.argv[3]) }).then((pg) => pg.close()).then(() => process.exit(0), (e) => { console.error(String(e)); process.exit(1); });";
  const r = spawnSync(process.execPath, ["-e", script, entry, dataDir, JSON.stringify(PGLITE_START_PARAMS)], { stdio: "ignore", timeout: 120_000 });
  return r.status === 0 && existsSync(join(dataDir, "PG_VERSION"));
}

async function openPglite(dataDir: string): Promise<Db> {
  mkdirSync(dataDir, { recursive: true });
  initPgliteInChild(dataDir);
  const { PGlite } = await import("@electric-sql/pglite");
  const pg = await PGlite.create(dataDir, { startParams: [...PGLITE_START_PARAMS] });
  const wrap = (q: { query: (s: string, p?: unknown[]) => Promise<{ rows: unknown[] }> }): Queryable => ({
    async query<T>(sql: string, params: readonly unknown[] = []) {
      const res = await q.query(sql, [...params]);
      return res.rows as T[];
    },
  });
  const base = wrap(pg);
  const prepared = new Set<string>();
  return {
    kind: "pglite",
    async query<T>(sql: string, params: readonly unknown[] = [], name?: string) {
      if (name === undefined) return base.query<T>(sql, params);
      // PGlite's query() parses and plans every time, and its EXECUTE cannot take bind
      // parameters: a PREPARE once, then EXECUTE with the values as quoted literals.
      if (!prepared.has(name)) {
        await pg.exec(`PREPARE ${escapeIdentifier(name)} AS ${sql}`);
        prepared.add(name);
      }
      return base.query<T>(`EXECUTE ${escapeIdentifier(name)}${params.length ? `(${params.map(sqlLiteral).join(", ")})` : ""}`);
    },
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    exec: async (sql) => {
      await pg.exec(sql);
    },
    close: () => pg.close(),
  };
}

async function openPostgres(url: string): Promise<Db> {
  const { Pool } = await import("pg");
  const pool = new Pool({ connectionString: url, max: 10 });
  // Surface a bad URL or a server that is down now, not on the first request.
  const probe = await pool.connect();
  probe.release();
  return {
    kind: "postgres",
    async query<T>(sql: string, params: readonly unknown[] = [], name?: string) {
      // node-postgres prepares a named statement once per pooled connection.
      const res = await pool.query(name === undefined ? { text: sql, values: [...params] } : { name, text: sql, values: [...params] });
      return res.rows as T[];
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const out = await fn({
          async query<T>(sql: string, params: readonly unknown[] = []) {
            const res = await client.query(sql, [...params]);
            return res.rows as T[];
          },
        });
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    close: () => pool.end(),
    listen: (channel, onMessage, onState) => listenPostgres(url, channel, onMessage, onState),
  };
}

/** LISTEN on a dedicated connection, reconnecting with backoff (100 ms doubling to 5 s) until stopped. */
function listenPostgres(url: string, channel: string, onMessage: (payload: string) => void, onState?: (listening: boolean) => void): () => Promise<void> {
  let stopped = false;
  let client: import("pg").Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = 100;
  const connect = async () => {
    if (stopped) return;
    const { Client } = await import("pg");
    const c = new Client({ connectionString: url });
    client = c;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      onState?.(false);
      c.end().catch(() => undefined);
      if (!stopped) {
        retry = setTimeout(() => void connect(), delay);
        retry.unref();
        delay = Math.min(delay * 2, 5000);
      }
    };
    c.on("error", onLost);
    c.on("end", onLost);
    c.on("notification", (n) => {
      if (n.channel === channel) onMessage(n.payload ?? "");
    });
    try {
      await c.connect();
      await c.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
      if (stopped) return void c.end().catch(() => undefined);
      delay = 100;
      onState?.(true);
    } catch {
      onLost();
    }
  };
  void connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}

/** Redacts the password of a database URL for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparseable DATABASE_URL>";
  }
}

/**
 * A parameter as an SQL literal of unknown type, which the prepared
 * statement's parameter type then reads as it would a bound value: strings
 * quoted by node-postgres' escapeLiteral, bytes as bytea hex, objects as
 * JSON, dates as ISO 8601.
 */
export function sqlLiteral(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `'\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}'`;
  if (v instanceof Date) return escapeLiteral(v.toISOString());
  // An array's literal depends on the parameter's type (text[] or jsonb), which is not known here.
  if (Array.isArray(v)) throw new Error("a named statement on PGlite cannot take an array parameter; pass JSON text for jsonb");
  if (typeof v === "object") return escapeLiteral(JSON.stringify(v));
  return escapeLiteral(String(v));
}
