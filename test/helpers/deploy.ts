/** Deploys an app directory straight through the platform API (no Pulumi), for gateway and queue tests. */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PlatformClient } from "../../src/client/client";
import type { App, Revision } from "../../src/client/types";
import { collectAppFiles } from "../../src/spec/files";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS, type AuthMode, type CodeSettings, type RuntimeScaling } from "../../src/spec/catalog";

export const FIXTURE_APPS = resolve(__dirname, "../fixtures/apps");

export interface DeployOptions {
  readonly dir: string;
  readonly sourceObject: string;
  readonly name: string;
  readonly env?: string;
  readonly authMode?: AuthMode;
  readonly scaling?: Partial<RuntimeScaling>;
  readonly codeSettings?: Partial<CodeSettings>;
  readonly strategy?: "rolling" | "recreate";
}

export async function deployDir(client: PlatformClient, o: DeployOptions): Promise<{ app: App; revision: Revision }> {
  const env = o.env ?? "main";
  if (env !== "main") await client.createEnvironment(env);
  const files = collectAppFiles(o.dir);
  const missing = new Set(await client.missingBlobs(Object.values(files).map((f) => f.hash)));
  for (const [rel, f] of Object.entries(files)) {
    if (missing.has(f.hash)) await client.putBlob(f.hash, readFileSync(join(o.dir, rel)));
  }
  const scaling = { ...RUNTIME_SCALING_DEFAULTS, ...o.scaling };
  const revision = await client.createRevision(o.name, env, {
    source_object: o.sourceObject,
    files,
    code_settings: { ...CODE_SETTINGS_DEFAULTS, startup_timeout: 30, ...o.codeSettings },
    scaling,
    auth_mode: o.authMode ?? "private",
  });
  const app = await client.updateApp(o.name, env, { revision_id: revision.id, strategy: o.strategy ?? "recreate", scaling, auth_mode: o.authMode });
  return { app, revision };
}

export function deployWorker(client: PlatformClient, o: Partial<DeployOptions> = {}) {
  return deployDir(client, { dir: join(FIXTURE_APPS, "worker"), sourceObject: "app.py::Worker", name: "worker", ...o });
}
