/**
 * The platform's operations on environments, apps and revisions, independent
 * of HTTP: creating revisions, switching an app's alias with a strategy,
 * rollouts, deleting. The API layer validates bodies and calls these; they
 * enforce the rules of docs/semantics.md. Smaller resources have their own
 * service modules beside this one (secrets, keys, blobs, builds, app status).
 */
import type { z } from "zod";
import type { RevisionBuildResponse } from "../contract";
import type { Db, Queryable } from "./store/db";
import * as repo from "./store/repo";
import type { AppRow, RevisionRow } from "./store/repo";
import { PlatformError, conflict, invalid, notFound } from "./errors";
import type { RunnerManager } from "./runners";
import { RunnerStartError, type RunnerBackend } from "./runners";
import {
  DEFAULT_STRATEGY,
  RUNTIME_SCALING_DEFAULTS,
  type AuthMode,
  type CodeSettings,
  type FileEntry,
  type RuntimeScaling,
  type StrategyName,
} from "../model/catalog";
import type { Logger } from "./log";
import { createHash } from "node:crypto";
import { environmentSpecOf, type EnvironmentBuilder } from "./builds/builder";
import { setRevisionBuild } from "./store/buildStore";
import { planOrInvalid } from "./buildService";

export interface CreateRevisionInput {
  readonly source_object: string;
  readonly files: Readonly<Record<string, FileEntry>>;
  readonly code_settings: CodeSettings;
  /** The code's runtime-tunable values: applied to a new app, kept as the revision's snapshot. */
  readonly scaling: RuntimeScaling;
  /** Auth mode for a new app; an existing app keeps its own until the alias is updated. */
  readonly auth_mode: AuthMode;
  readonly message: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** Build the environment from scratch instead of taking a cached one. */
  readonly no_cache: boolean;
}

/** A revision as createRevision answers: with how its environment came about (as the wire contract shows it). */
export type CreatedRevision = RevisionRow & { reused?: boolean; build: z.output<typeof RevisionBuildResponse> };

/** A revision with the app it belongs to (its answers show the app's name and whether it is active). */
export interface RevisionOfApp<R extends RevisionRow = RevisionRow> {
  readonly revision: R;
  readonly app: AppRow;
}

export interface UpdateAppInput {
  readonly revision_id?: string;
  readonly strategy?: StrategyName;
  readonly auth_mode?: AuthMode;
  /** Runtime-tunable values to set; absent ones keep the live alias's values. */
  readonly scaling?: Partial<RuntimeScaling>;
}

export class PlatformService {
  private readonly appLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly runners: RunnerManager,
    private readonly backend: RunnerBackend,
    private readonly builder: EnvironmentBuilder,
    private readonly log: Logger,
    /** Called after the service changes an app, so routing caches drop it. */
    private readonly onAppChanged: () => void = () => undefined,
  ) {}

  requireEnvironment(owner: string, env: string): Promise<void> {
    return requireEnvironment(this.db, owner, env);
  }

  requireApp(owner: string, name: string, env: string): Promise<AppRow> {
    return requireApp(this.db, owner, name, env);
  }

  /** A revision of one of the owner's apps; 404 for anyone else's, so ids reveal nothing. */
  async requireRevision(owner: string, id: string): Promise<RevisionOfApp> {
    const revision = await repo.getRevision(this.db, id);
    const app = revision && (await repo.getAppById(this.db, revision.app_id));
    if (!revision || !app || app.owner !== owner) throw notFound(`revision '${id}'`);
    return { revision, app };
  }

  // ---- environments

  listEnvironments(owner: string) {
    return repo.listEnvironments(this.db, owner);
  }

  /** Creates the environment; false when it existed already. */
  createEnvironment(owner: string, name: string): Promise<boolean> {
    return repo.ensureEnvironment(this.db, owner, name);
  }

  /**
   * Deletes an environment with its apps (and so their revisions, runners and
   * secrets). `main` always exists; an environment with apps goes only with
   * `force`, so a typo cannot take a stage down.
   */
  async deleteEnvironment(owner: string, name: string, force: boolean): Promise<void> {
    if (name === "main") throw conflict("environment 'main' always exists and cannot be deleted");
    if (!(await repo.getEnvironment(this.db, owner, name))) throw notFound(`environment '${name}'`);
    const apps = await repo.listApps(this.db, owner, name);
    if (apps.length > 0 && !force) {
      throw conflict(
        `environment '${name}' still has ${apps.length} app(s) (${apps.map((a) => a.name).join(", ")}); deleting it deletes them and their secrets: pass force=true`,
      );
    }
    // One by one through deleteApp: each app's lock, routing caches and runners.
    for (const a of apps) await this.deleteApp(owner, a.name, name);
    await repo.deleteEnvironment(this.db, owner, name);
  }

  // ---- apps and revisions

  /** The owner's apps, of one environment or all. */
  listApps(owner: string, env?: string): Promise<AppRow[]> {
    return repo.listApps(this.db, owner, env);
  }

  /** An app's revisions, newest first. */
  async listRevisions(owner: string, name: string, env: string): Promise<{ app: AppRow; revisions: RevisionRow[] }> {
    const app = await this.requireApp(owner, name, env);
    return { app, revisions: await repo.listRevisions(this.db, app.id) };
  }

  /**
   * Creates a revision (or reuses one with the same content) and makes sure
   * its Python environment exists: a ready build of its key (a cache hit), the
   * running build of that key (joined), or a build started now. Does not wait
   * for the build; the deploy follows it with GET /v1/builds/{id}.
   */
  async createRevision(owner: string, name: string, env: string, input: CreateRevisionInput): Promise<RevisionOfApp<CreatedRevision>> {
    await this.requireEnvironment(owner, env);
    this.checkHostable(input.code_settings.machine_types);
    const missing = await repo.missingBlobs(
      this.db,
      Object.values(input.files).map((f) => f.hash),
    );
    if (missing.length > 0) {
      throw invalid(`${missing.length} file(s) of the revision have not been uploaded`, { missing });
    }
    if (!Object.keys(input.files).includes(input.source_object.split("::")[0])) {
      throw invalid(`source_object '${input.source_object}' names a file that is not among the uploaded files`);
    }
    // Before anything is stored: an interpreter the host lacks is the caller's error.
    const spec = environmentSpecOf(input.code_settings);
    const plan = await planOrInvalid(this.builder, spec, "code_settings.python_version");
    const rev = await this.db.transaction(async (tx) => {
      const app = await repo.insertApp(tx, {
        owner,
        name,
        environment: env,
        auth_mode: input.auth_mode,
        scaling: { ...RUNTIME_SCALING_DEFAULTS, ...input.scaling },
      });
      // Content an existing revision already has (a revert, a rollback as code) reuses it: nothing is built.
      const existing = await repo.findRevisionByCode(tx, app.id, codeHash(input));
      if (existing) return { ...existing, reused: true };
      return repo.insertRevision(tx, {
        app_id: app.id,
        source_object: input.source_object,
        code_hash: codeHash(input),
        files: input.files as Record<string, FileEntry>,
        code_settings: input.code_settings,
        scaling: input.scaling,
        message: input.message,
        annotations: input.annotations as Record<string, string>,
      });
    });
    // A reused revision whose environment is still there keeps it.
    const own = rev.build_id && !input.no_cache ? await this.builder.usableBuild(rev.build_id) : undefined;
    const build = own ?? (await this.builder.ensure(spec, input.no_cache, plan));
    await setRevisionBuild(this.db, rev.id, build);
    const cache = input.no_cache ? "disabled" : own || plan.ready?.id === build.id ? "hit" : plan.building?.id === build.id ? "joined" : "miss";
    const status = build.status === "BUILDING" ? "Building" : rev.status === "Building" ? "Deploying" : rev.status;
    const revision: CreatedRevision = { ...rev, status, build_id: build.id, build_key: build.build_key, build: { id: build.id, key: build.build_key, status: build.status, cache } };
    // Read after the build started: the answer says whether the revision is active now.
    return { revision, app: (await repo.getAppById(this.db, rev.app_id))! };
  }

  /**
   * Moves the alias and/or changes auth and scaling. A revision change with the
   * rolling strategy starts a runner on the target first and moves the alias
   * only once it is healthy; if it is not, the revision is marked Failed, the
   * alias stays, and the caller gets the runner's output.
   */
  async updateApp(owner: string, name: string, env: string, input: UpdateAppInput): Promise<AppRow> {
    const app0 = await this.requireApp(owner, name, env);
    return this.withAppLock(app0.id, async () => {
      const app = await this.requireApp(owner, name, env);
      const scaling = input.scaling ? { ...app.scaling, ...input.scaling } : undefined;
      if (!input.revision_id || input.revision_id === app.current_revision) {
        return repo.updateApp(this.db, app.id, { auth_mode: input.auth_mode, scaling });
      }
      const rev = await repo.getRevision(this.db, input.revision_id);
      if (!rev || rev.app_id !== app.id) throw notFound(`revision '${input.revision_id}' of app '${name}' (${env})`);
      this.checkHostable(rev.code_settings.machine_types);
      const strategy = input.strategy ?? DEFAULT_STRATEGY;
      const log = this.log.child({ app: name, env, revision: rev.id, strategy });

      if (strategy === "rolling") {
        await repo.updateApp(this.db, app.id, { is_rolling: true });
        await repo.setRevisionStatus(this.db, rev.id, "Deploying");
        try {
          log.info({}, "rolling switch: starting a runner on the target revision");
          await this.runners.startAndWait({ ...app, scaling: scaling ?? app.scaling }, rev);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          await repo.setRevisionStatus(this.db, rev.id, "Failed", message);
          await repo.updateApp(this.db, app.id, { is_rolling: false });
          log.warn({ err: message.split("\n")[0] }, "rolling switch failed; alias unchanged");
          throw new PlatformError(
            422,
            "deploy_failed",
            `revision ${rev.id} failed to start; the alias still points at ${app.current_revision ?? "nothing"}.\n${message}`,
            { revision_id: rev.id, runner_output: err instanceof RunnerStartError ? err.output : undefined },
          );
        }
      }
      const updated = await this.db.transaction(async (tx) => {
        await repo.setRevisionStatus(tx, rev.id, "Deployed");
        return repo.updateApp(tx, app.id, {
          current_revision: rev.id,
          is_rolling: false,
          auth_mode: input.auth_mode,
          scaling,
        });
      });
      this.onAppChanged();
      log.info({ previous: app.current_revision }, "alias moved");
      // Old revisions' runners finish what they hold, then stop.
      void this.runners.drainOthers(app.id, rev.id);
      return updated;
    });
  }

  /** Restarts the app's runners without changing revision (secrets changed, stuck runners, memory growth). */
  async rollout(owner: string, name: string, env: string, force: boolean): Promise<number> {
    const app = await this.requireApp(owner, name, env);
    const n = await this.runners.rollout(app.id, force ? "force" : "graceful");
    this.log.info({ app: name, env, runners: n, force }, "rollout");
    return n;
  }

  async deleteApp(owner: string, name: string, env: string): Promise<void> {
    const app = await this.requireApp(owner, name, env);
    await this.withAppLock(app.id, async () => {
      await repo.deleteApp(this.db, app.id);
      this.onAppChanged();
      await this.runners.stopApp(app.id);
    });
  }

  async deleteRevision(owner: string, id: string): Promise<void> {
    const { app } = await this.requireRevision(owner, id);
    if (app.current_revision === id) {
      throw conflict(`revision ${id} is the active revision of '${app.name}' (${app.environment}); switch to another first`);
    }
    await repo.deleteRevision(this.db, id);
  }

  private checkHostable(machineTypes: readonly string[]): void {
    if (!machineTypes.some((t) => this.backend.canHost(t))) {
      throw invalid(
        `none of the machine types [${machineTypes.join(", ")}] can be hosted by the ${this.backend.name} backend, which hosts [${this.backend.machineTypes.join(", ")}]`,
      );
    }
  }

  private async withAppLock<T>(appId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.appLocks.get(appId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.appLocks.set(appId, next);
    try {
      return await next;
    } finally {
      if (this.appLocks.get(appId) === next) this.appLocks.delete(appId);
    }
  }
}

/** 404 unless the owner has the environment: apps and secrets live only in existing ones. */
export async function requireEnvironment(q: Queryable, owner: string, env: string): Promise<void> {
  if (!(await repo.getEnvironment(q, owner, env))) {
    throw new PlatformError(404, "not_found", `environment '${env}' does not exist (create it first)`);
  }
}

export async function requireApp(q: Queryable, owner: string, name: string, env: string): Promise<AppRow> {
  const app = await repo.getApp(q, owner, name, env);
  if (!app) throw notFound(`app '${name}' in environment '${env}'`);
  return app;
}

/** Identity of a revision's code: files, entrypoint and code-specific settings. */
export function codeHash(input: Pick<CreateRevisionInput, "source_object" | "files" | "code_settings">): string {
  const h = createHash("sha256");
  h.update(input.source_object);
  for (const k of Object.keys(input.files).sort()) h.update(`\0${k}\0${input.files[k].hash}\0${input.files[k].mode}`);
  h.update(JSON.stringify(input.code_settings));
  return h.digest("hex");
}
