/**
 * Deploys an app directory through the platform API without Pulumi: upload
 * the files the platform lacks, create (or reuse) a revision, point the alias
 * at it. Used by `falctl run` (ephemeral apps), tests and the benchmark.
 */
import type { PlatformClient } from "./client";
import type { App, Revision } from "./types";
import { uploadFiles } from "./upload";
import { collectAppFiles } from "../model/files";
import { resolveRequirements } from "../model/requirements";
import {
  CODE_SETTINGS_DEFAULTS,
  DEFAULT_AUTH_MODE,
  DEFAULT_STRATEGY,
  RUNTIME_SCALING_DEFAULTS,
  type AuthMode,
  type CodeSettings,
  type RuntimeScaling,
  type StrategyName,
} from "../model/catalog";

export interface DeployDirOptions {
  /** Directory whose files are uploaded. */
  readonly dir: string;
  /** `file.py::Class`, relative to dir. */
  readonly sourceObject: string;
  readonly name: string;
  /** Default `main`; other environments are created when missing. */
  readonly env?: string;
  /** Default private. */
  readonly authMode?: AuthMode;
  readonly scaling?: Partial<RuntimeScaling>;
  readonly codeSettings?: Partial<CodeSettings>;
  /** Default rolling. */
  readonly strategy?: StrategyName;
  readonly message?: string;
  /** Each line of the environment build's log, while the deploy waits for it. Default: not shown. */
  readonly onBuildLine?: (line: string) => void;
}

/** The environment build of the revision failed: the deploy stops, the alias stays. */
export class BuildFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BuildFailed";
  }
}

export async function deployDirectory(client: PlatformClient, o: DeployDirOptions): Promise<{ app: App; revision: Revision }> {
  const env = o.env ?? "main";
  if (env !== "main") await client.createEnvironment(env);
  const files = collectAppFiles(o.dir);
  await uploadFiles(client, o.dir, files);
  const scaling = { ...RUNTIME_SCALING_DEFAULTS, ...o.scaling };
  const revision = await client.createRevision(o.name, env, {
    source_object: o.sourceObject,
    files,
    // requirements.txt beside the app counts unless the caller names the requirements.
    code_settings: { ...CODE_SETTINGS_DEFAULTS, ...o.codeSettings, requirements: resolveRequirements(o.dir, o.codeSettings?.requirements) },
    scaling,
    auth_mode: o.authMode ?? DEFAULT_AUTH_MODE,
    message: o.message,
  });
  if (revision.build.status !== "READY") {
    const build = await client.followBuild(revision.build.id, o.onBuildLine ?? (() => undefined));
    if (build.status === "FAILED") throw new BuildFailed(`the environment build of ${o.name} failed; the alias was not moved:\n${build.error ?? ""}`);
  }
  const app = await client.updateApp(o.name, env, {
    revision_id: revision.id,
    strategy: o.strategy ?? DEFAULT_STRATEGY,
    scaling,
    auth_mode: o.authMode,
  });
  return { app, revision };
}
