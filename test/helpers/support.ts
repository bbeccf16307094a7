/**
 * Shared pieces of the platform and provider tests: the database variants,
 * temp app directories, uploading an app's files and deploying it through the
 * API, and raw HTTP calls for answers the typed client would not send.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, beforeEach, expect } from "vitest";
import { ApiError, type PlatformClient } from "../../src/client/client";
import type { App, CreateRevisionRequest, Revision } from "../../src/client/types";
import { uploadFiles } from "../../src/client/upload";
import { collectAppFiles } from "../../src/model/files";
import { openDb, type Db } from "../../src/platform/store/db";
import { testPostgresServer } from "./testPlatform";
import { createTestDatabase, dropTestDatabase } from "./postgres";
import {
  CODE_SETTINGS_DEFAULTS,
  RUNTIME_SCALING_DEFAULTS,
  type AuthMode,
  type CodeSettings,
  type FileEntry,
  type RuntimeScaling,
  type StrategyName,
} from "../../src/model/catalog";

/** Both stores every platform test runs on: `describe.each(DATABASES)`. */
export const DATABASES = [["pglite"], ["postgres"]] as [["pglite"], ["postgres"]];
export type Database = "pglite" | "postgres";

export const EXAMPLE_DIR = resolve(__dirname, "../../examples/text-to-ascii");

/**
 * A beforeAll whose failure fails every test of the block. (A failing beforeAll
 * makes vitest report the block's tests as skipped; a PostgreSQL variant
 * without PostgreSQL must show as failed, test by test, with the reason.)
 */
export function beforeAllOrFailEach(fn: () => Promise<void>): void {
  let error: unknown;
  beforeAll(async () => {
    try {
      await fn();
    } catch (err) {
      error = err;
    }
  });
  beforeEach(() => {
    if (error) throw error;
  });
}

/**
 * A fresh database of one variant: a new database on the test PostgreSQL
 * server, or a PGlite data directory in a temp folder. `close()` closes it
 * and drops (or deletes) it.
 */
export async function openTestDb(database: Database): Promise<{ db: Db; close(): Promise<void> }> {
  if (database === "postgres") {
    const server = testPostgresServer();
    const url = await createTestDatabase(server);
    const db = await openDb({ databaseUrl: url, dataDir: "/nonexistent" });
    return { db, close: async () => (await db.close(), await dropTestDatabase(server, url)) };
  }
  const dir = mkdtempSync(join(tmpdir(), "falplane-db-"));
  const db = await openDb({ dataDir: join(dir, "pglite") });
  return { db, close: async () => (await db.close(), rmSync(dir, { recursive: true, force: true })) };
}

/** Temp directories a test file made; `removeAll()` in afterAll. */
export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix = "falplane-app-"): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }
  /** A copy of examples/text-to-ascii (so a test may change its code). */
  example(): string {
    const d = this.make();
    cpSync(EXAMPLE_DIR, d, { recursive: true });
    return d;
  }
  /** A directory holding one app.py with this text. */
  app(source: string): string {
    const d = this.make();
    writeFileSync(join(d, "app.py"), source);
    return d;
  }
  removeAll(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** An app whose setup() raises after `delaySeconds`: a deploy of it must fail. */
export function crashingAppSource(message: string, delaySeconds = 0): string {
  return [
    "import time",
    "import falplane",
    "",
    "",
    "class Broken(falplane.App):",
    "    def setup(self) -> None:",
    `        time.sleep(${delaySeconds})`,
    `        raise RuntimeError(${JSON.stringify(message)})`,
    "",
    '    @falplane.endpoint("/")',
    "    def run(self, input: dict) -> dict:",
    "        return {}",
    "",
  ].join("\n");
}

/** Uploads the files of `dir` the platform lacks; returns the revision's file map. */
export async function uploadDir(client: PlatformClient, dir: string): Promise<Record<string, FileEntry>> {
  const files = collectAppFiles(dir);
  await uploadFiles(client, dir, files);
  return files;
}

export interface RevisionOptions {
  source?: string;
  machineTypes?: string[];
  codeSettings?: Partial<CodeSettings>;
  scaling?: Partial<RuntimeScaling>;
  authMode?: AuthMode;
  message?: string;
}

export function revisionBody(files: Record<string, FileEntry>, o: RevisionOptions = {}): CreateRevisionRequest {
  return {
    source_object: o.source ?? "app.py::TextToAscii",
    files,
    code_settings: {
      ...CODE_SETTINGS_DEFAULTS,
      startup_timeout: 60,
      ...(o.machineTypes ? { machine_types: o.machineTypes } : {}),
      ...o.codeSettings,
    },
    scaling: { ...RUNTIME_SCALING_DEFAULTS, ...o.scaling },
    auth_mode: o.authMode ?? "private",
    message: o.message ?? "",
    annotations: {},
  };
}

/** Uploads `dir` and creates a revision of app `name` in `env` (the app is created on first use). */
export async function createRevision(
  client: PlatformClient,
  name: string,
  env: string,
  dir: string,
  o: RevisionOptions = {},
): Promise<Revision & { reused?: boolean }> {
  return client.createRevision(name, env, revisionBody(await uploadDir(client, dir), o));
}

/** createRevision, then move the alias to it. */
export async function deploy(
  client: PlatformClient,
  name: string,
  env: string,
  dir: string,
  o: RevisionOptions & { strategy?: StrategyName } = {},
): Promise<{ revision: Revision; app: App }> {
  const revision = await createRevision(client, name, env, dir, o);
  const app = await client.updateApp(name, env, { revision_id: revision.id, strategy: o.strategy ?? "rolling" });
  return { revision, app };
}

/** The ApiError a call rejects with (fails the test when it resolves). */
export async function apiError(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the call should have failed").toBeInstanceOf(ApiError);
  return err as ApiError;
}

export interface RawAnswer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTP call with any headers and body; `key` is `id:secret` or a whole Authorization value via `authorization`. */
export async function raw(
  baseUrl: string,
  method: string,
  path: string,
  o: { key?: string; authorization?: string; body?: unknown } = {},
): Promise<RawAnswer> {
  const headers: Record<string, string> = {};
  if (o.key) headers.authorization = `Key ${o.key}`;
  if (o.authorization) headers.authorization = o.authorization;
  if (o.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(baseUrl + path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON.
  }
  return { status: res.status, body };
}
