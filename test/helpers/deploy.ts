/** Deploys fixture apps straight through the platform API (no Pulumi), for gateway and queue tests. */
import { join, resolve } from "node:path";
import type { PlatformClient } from "../../src/client/client";
import { deployDirectory, type DeployDirOptions } from "../../src/client/deployDir";

export const FIXTURE_APPS = resolve(__dirname, "../fixtures/apps");

export type DeployOptions = DeployDirOptions;

/** Deploys with the recreate strategy and a 30 s startup timeout unless told otherwise. */
export function deployDir(client: PlatformClient, o: DeployOptions) {
  return deployDirectory(client, { strategy: "recreate", ...o, codeSettings: { startup_timeout: 30, ...o.codeSettings } });
}

export function deployWorker(client: PlatformClient, o: Partial<DeployOptions> = {}) {
  return deployDir(client, { dir: join(FIXTURE_APPS, "worker"), sourceObject: "app.py::Worker", name: "worker", ...o });
}
