/**
 * Builds apps' Python environments, once per build key.
 *
 * The build key is a hash of what decides an environment's content: the
 * normalised requirements, the interpreter's version, platform and ABI, the
 * installer (uv's version, or the pip fallback), the package index and this
 * builder's own version. A deploy whose key has a ready environment on this
 * host builds nothing (a cache hit); one whose key is being built joins that
 * build, also when another platform process on the same PostgreSQL started it.
 *
 * Environments live in `<envsDir>/<key>-<build>`, a directory per build so a
 * `noCache` rebuild never pulls files from under running runners. A build is
 * complete only when its marker file is there: nothing half-built is used.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Db } from "../store/db";
import * as bs from "../store/buildStore";
import type { BuildRow } from "../store/buildStore";
import type { Logger } from "../log";
import { normaliseRequirements } from "../../model/requirements";
import { findPython, findUv, probePython, type Installer, type PythonTarget } from "./toolchain";
import { installEnvironment } from "./install";

/** Bump when the way environments are built changes: every key changes with it. */
export const BUILDER_VERSION = "1";

const COMPLETE_MARKER = ".falplane-build-complete";

export interface EnvironmentSpec {
  /** Pip requirement strings (normalised here again: the key must not depend on spelling). */
  readonly requirements: readonly string[];
  /** `3.11`, `3.11.7`; null or absent: the platform's own Python. */
  readonly pythonVersion?: string | null;
}

/** What of a revision decides its environment; older revisions may lack the fields. */
export interface RevisionWithEnvironment {
  readonly id: string;
  readonly build_id?: string | null;
  readonly code_settings: { readonly requirements?: readonly string[]; readonly python_version?: string | null };
}

/** The environment spec of a revision's code settings. */
export function environmentSpecOf(settings: RevisionWithEnvironment["code_settings"]): EnvironmentSpec {
  return { requirements: settings.requirements ?? [], pythonVersion: settings.python_version ?? null };
}

export interface BuildPlan {
  readonly key: string;
  readonly python: PythonTarget;
  readonly installer: string;
  /** A ready environment of this key on this host: a deploy of it builds nothing. */
  readonly ready?: BuildRow;
  /** A build of this key running now. */
  readonly building?: BuildRow;
}

export interface EnvironmentBuilderOptions {
  readonly db: Db;
  /** Where environments are kept. */
  readonly envsDir: string;
  /** This process (`host:pid`), recorded on the builds it runs. */
  readonly owner: string;
  readonly log: Logger;
  /** The platform's own interpreter. Default: FALPLANE_PYTHON, else `python3`. */
  readonly python?: string;
  /** uv binary. Default: FALPLANE_UV, the set-up's copy, else `uv` on PATH; none: venv + pip. */
  readonly uv?: string;
  /** Package index URL. Default: env UV_INDEX_URL, else PIP_INDEX_URL, else the tools' default. */
  readonly indexUrl?: string;
  /** How often a running build stores its new log lines and says it is alive. Default 500 ms. */
  readonly heartbeatMs?: number;
  /** A build silent this long is taken as dead (its process was killed). Default 30000 ms. */
  readonly staleMs?: number;
}

/** A build that failed; `summary` holds the installer's lines that say why. */
export class BuildFailedError extends Error {
  constructor(
    readonly buildId: string,
    readonly summary: string,
  ) {
    super(`environment build ${buildId} failed:\n${summary}`);
    this.name = "BuildFailedError";
  }
}

interface Toolchain {
  readonly python: PythonTarget;
  readonly installer: Installer | undefined;
}

export class EnvironmentBuilder {
  /** Where this builder's environments live: a host and a directory. */
  readonly store: string;
  private toolchain?: Promise<Toolchain>;
  private readonly running = new Map<string, Promise<void>>();
  private readonly indexUrl: string | undefined;

  constructor(private readonly opts: EnvironmentBuilderOptions) {
    this.store = `${hostname()}:${resolve(opts.envsDir)}`;
    this.indexUrl = opts.indexUrl ?? process.env.UV_INDEX_URL ?? process.env.PIP_INDEX_URL;
  }

  /** The build key of a spec and what this host has of it. */
  async plan(spec: EnvironmentSpec): Promise<BuildPlan> {
    const tc = await this.tools();
    const python = await findPython(tc.python, spec.pythonVersion ?? undefined, tc.installer);
    const installer = tc.installer?.name ?? "pip (python -m venv)";
    const key = buildKey(normaliseRequirements(spec.requirements), python, installer, this.indexUrl);
    const { ready, building } = await bs.buildsOfKey(this.opts.db, key, this.store);
    return { key, python, installer, ready: ready && isComplete(ready) ? ready : undefined, building };
  }

  /**
   * The environment for a spec: a ready build (cache hit, unless noCache), the
   * running build of the same key (joined), or a new build started now. Does
   * not wait; `waitReady` does. `known` is a plan of this spec the caller
   * just made (the revision call plans before it stores anything): the first
   * try uses it instead of planning again.
   */
  async ensure(spec: EnvironmentSpec, noCache = false, known?: BuildPlan): Promise<BuildRow> {
    const { db, log } = this.opts;
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = attempt === 0 && known ? known : await this.plan(spec);
      if (plan.ready && !noCache) return plan.ready;
      await bs.failStaleBuilds(db, this.store, this.opts.staleMs ?? 30_000);
      if (plan.building && !(await this.isStale(plan.building))) return plan.building;
      const claimed = await bs.claimBuild(db, {
        build_key: plan.key,
        store: this.store,
        requirements: normaliseRequirements(spec.requirements),
        python_version: plan.python.version,
        installer: plan.installer,
        dirPrefix: join(resolve(this.opts.envsDir), plan.key.slice(0, 16)),
        no_cache: noCache,
        owner: this.opts.owner,
      });
      if (!claimed) continue; // Another process claimed it a moment ago: join that one.
      log.info({ build_id: claimed.id, build_key: plan.key, requirements: claimed.requirements.length, no_cache: noCache }, "environment build started");
      this.running.set(claimed.id, this.run(claimed, plan.python));
      return claimed;
    }
    throw new Error("could not claim or join an environment build after 3 tries");
  }

  /** Waits until a build is ready; rejects with BuildFailedError when it failed. */
  async waitReady(buildId: string, signal?: AbortSignal): Promise<BuildRow> {
    for (;;) {
      signal?.throwIfAborted();
      const b = await bs.getBuild(this.opts.db, buildId);
      if (!b) throw new BuildFailedError(buildId, "the build record is gone (removed by the garbage collector?)");
      if (b.status === "READY") {
        if (isComplete(b)) return b;
        throw new BuildFailedError(buildId, `the environment directory ${b.dir} is missing on this host`);
      }
      if (b.status === "FAILED") throw new BuildFailedError(buildId, b.error ?? "failed");
      if (!this.running.has(buildId) && (await this.isStale(b))) {
        await bs.failStaleBuilds(this.opts.db, this.store, this.opts.staleMs ?? 30_000);
        continue;
      }
      await sleep(250, signal);
    }
  }

  /**
   * The interpreter of a revision's environment for a runner about to start:
   * its build when that is usable on this host, else the build of its key
   * (built or joined now: the environment was collected, or the revision
   * predates builds, or it was built on another host).
   */
  async pythonFor(revision: RevisionWithEnvironment): Promise<string> {
    let buildId = revision.build_id ?? undefined;
    if (!buildId || !(await this.usableBuild(buildId))) {
      const b = await this.ensure(environmentSpecOf(revision.code_settings));
      await bs.setRevisionBuild(this.opts.db, revision.id, b);
      buildId = b.id;
    }
    return this.pythonOf(await this.waitReady(buildId!));
  }

  /** A build that a runner on this host can use now or once it finishes; undefined otherwise. */
  async usableBuild(buildId: string): Promise<BuildRow | undefined> {
    const b = await bs.getBuild(this.opts.db, buildId);
    const usable = b && b.store === this.store && (b.status === "BUILDING" || (b.status === "READY" && isComplete(b)));
    return usable ? b : undefined;
  }

  /** The Python interpreter of a ready build. */
  pythonOf(build: BuildRow): string {
    return join(build.dir, "bin", "python");
  }

  /**
   * Removes environments no revision uses any more (their revisions were
   * deleted, by revisionHistoryLimit or with their app) once graceMs has
   * passed since they were built; failed builds' records go the same way.
   */
  async collectGarbage(graceMs: number): Promise<{ removed: number }> {
    const { db, log } = this.opts;
    const victims = await bs.unreferencedBuilds(db, this.store, graceMs);
    for (const b of victims) {
      rmSync(b.dir, { recursive: true, force: true });
      await bs.deleteBuild(db, b.id);
    }
    if (victims.length) log.info({ removed: victims.length }, "removed unreferenced environments");
    return { removed: victims.length };
  }

  /**
   * Collects garbage now and then every intervalMs (default 10 min); returns
   * the stop function. A failed pass is logged and tried again next time.
   */
  startGarbageCollector(graceMs: number, intervalMs = 600_000): () => void {
    const pass = () => void this.collectGarbage(graceMs).catch((e) => this.opts.log.warn({ err: String(e) }, "environment garbage collection failed"));
    const first = setTimeout(pass, Math.min(intervalMs, 30_000));
    const timer = setInterval(pass, intervalMs);
    first.unref();
    timer.unref();
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }

  /** Lets builds this process runs finish (close, tests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private async run(build: BuildRow, python: PythonTarget): Promise<void> {
    const { db, log } = this.opts;
    const tc = await this.tools();
    let pending = "";
    let flushing = Promise.resolve();
    const flush = () => {
      if (!pending) return flushing;
      const text = pending;
      pending = "";
      flushing = flushing.then(() => bs.appendBuildLog(db, build.id, text)).catch((e) => log.warn({ err: String(e) }, "could not store build log"));
      return flushing;
    };
    const say = (line: string) => {
      pending += `${line}\n`;
    };
    // Log lines are written in batches; the heartbeat says the build is alive between them.
    const ticker = setInterval(() => {
      void flush();
      void bs.heartbeatBuild(db, build.id).catch(() => undefined);
    }, this.opts.heartbeatMs ?? 500);
    const started = Date.now();
    try {
      say(`building environment ${build.build_key.slice(0, 12)} with ${build.installer}, Python ${python.version} (${python.platform})`);
      if (!tc.installer) say("uv was not found: building with python -m venv + pip, which is slower (run `npm run setup` to install uv)");
      say(build.requirements.length ? `requirements: ${build.requirements.join(", ")}` : "requirements: none");
      rmSync(build.dir, { recursive: true, force: true });
      mkdirSync(resolve(this.opts.envsDir), { recursive: true });
      await installEnvironment({ dir: build.dir, python, requirements: build.requirements, installer: tc.installer, indexUrl: this.indexUrl, onLine: say });
      writeFileSync(join(build.dir, COMPLETE_MARKER), `${build.build_key}\n`);
      const size = await diskUsage(build.dir);
      say(`environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${(size / 1e6).toFixed(1)} MB)`);
      await flush();
      await bs.finishBuild(db, build.id, { status: "READY", size_bytes: size });
      log.info({ build_id: build.id, ms: Date.now() - started, bytes: size }, "environment build ready");
    } catch (err) {
      const summary = (err as { summary?: string }).summary ?? (err instanceof Error ? err.message : String(err));
      say(`build failed after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      await flush();
      rmSync(build.dir, { recursive: true, force: true });
      await bs.finishBuild(db, build.id, { status: "FAILED", error: summary });
      log.warn({ build_id: build.id, err: summary.split("\n")[0] }, "environment build failed");
    } finally {
      clearInterval(ticker);
      this.running.delete(build.id);
    }
  }

  private async isStale(b: BuildRow): Promise<boolean> {
    if (this.running.has(b.id)) return false;
    return Date.now() - new Date(b.heartbeat_at).getTime() > (this.opts.staleMs ?? 30_000);
  }

  private tools(): Promise<Toolchain> {
    this.toolchain ??= (async () => {
      const python = await probePython(this.opts.python ?? process.env.FALPLANE_PYTHON ?? "python3");
      const installer = await findUv(this.opts.uv);
      if (!installer) this.opts.log.warn({}, "uv not found: environments are built with python -m venv + pip (slower); `npm run setup` installs uv");
      return { python, installer };
    })();
    this.toolchain.catch(() => (this.toolchain = undefined));
    return this.toolchain;
  }
}

/** sha256 over everything that decides an environment's content. */
export function buildKey(requirements: readonly string[], python: PythonTarget, installer: string, indexUrl: string | undefined): string {
  return createHash("sha256")
    .update(
      JSON.stringify({
        builder: BUILDER_VERSION,
        installer,
        python: python.version,
        platform: python.platform,
        abi: python.abi,
        index: indexUrl ?? "",
        requirements,
      }),
    )
    .digest("hex");
}

function isComplete(b: BuildRow): boolean {
  return existsSync(join(b.dir, COMPLETE_MARKER));
}

async function diskUsage(dir: string): Promise<number> {
  try {
    const { stdout } = await promisify(execFile)("du", ["-sb", dir]);
    return Number(stdout.split(/\s/)[0]) || 0;
  } catch {
    return 0;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      res();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
