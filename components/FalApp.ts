/**
 * A model-serving app in one environment: a Revision of its code and the
 * alias that points the app's endpoint at it.
 *
 * A change of code or of a code-specific setting (machine types, GPUs,
 * max_multiplexing, startup_timeout) makes a new Revision and moves the alias
 * with the chosen Strategy. Auth mode changes update the alias in place.
 * Runtime-tunable scaling values apply on the first deploy and with
 * `resetScale`; otherwise the live values are kept (fal's inheritance rule).
 *
 * Every program run (preview and up) reads the live app from the platform and
 * logs the deploy check under this resource (docs/deploy-check.md); the same
 * text is the output `deployCheck`.
 */
import * as pulumi from "@pulumi/pulumi";
import { dirname, relative, resolve } from "node:path";
import { existsSync, statSync } from "node:fs";
import { appProvider } from "../src/providers/appProvider";
import {
  CODE_SETTINGS_DEFAULTS,
  MACHINE_TYPE_NAMES,
  RUNTIME_SCALING_DEFAULTS,
  aliasName,
  kebabCase,
  type AuthMode,
  type CodeSettings,
  type RuntimeScaling,
} from "../src/model/catalog";
import { AppSpec } from "../src/model/appSpec";
import { collectAppFiles } from "../src/model/files";
import { resolveRequirements } from "../src/model/requirements";
import { PlatformClient } from "../src/client/client";
import {
  computeDeployCheck,
  readLiveState,
  renderDeployCheck,
  renderUnavailableCheck,
  type PlannedDeploy,
} from "../src/check";
import { Revision } from "./Revision";
import { Strategy } from "./Strategy";
import { resolveConnection, type PlatformConnection, type ResolvedConnection } from "./connection";

/** The deploy check gives up reading the live state after this long (then warns; preview goes on). */
const CHECK_TIMEOUT_MS = 10_000;

export interface FalAppScaling {
  /** Seconds an idle runner is kept. Default 60. */
  readonly keepAlive?: number;
  /** Runners kept running without traffic. Default 0. */
  readonly minConcurrency?: number;
  /** Most runners at once. Default 2. */
  readonly maxConcurrency?: number;
  /** Extra runners ahead of demand. Default 0. */
  readonly concurrencyBuffer?: number;
  /** Extra runners as a percentage of demand. Default 0. */
  readonly concurrencyBufferPerc?: number;
  /** Seconds a request waits unserved before a scale-up. Default 0. */
  readonly scalingDelay?: number;
  /** Seconds a request may run. Default 3600. */
  readonly requestTimeout?: number;
  /** Requests one runner holds at once (code-specific). Default 1. */
  readonly maxMultiplexing?: number;
  /** Seconds setup may take (code-specific). Default 600. */
  readonly startupTimeout?: number;
}

export interface FalAppArgs {
  /** `path/to/file.py::ClassName`, relative to the Pulumi program's directory. */
  readonly source: string;
  /** App name. Default: the class name in kebab case (`TextToImage` → `text-to-image`). */
  readonly name?: string;
  /** Directory uploaded as the app's files. Default: the directory of the source file. */
  readonly root?: string;
  /** Environment to deploy into. Default `main`. */
  readonly environment?: string;
  /** Who may call the app. Default `private`. */
  readonly authMode?: AuthMode;
  /** How a new revision takes over. Default `Strategy.rolling()`. */
  readonly strategy?: Strategy;
  /** One machine type or a list of them. Default `S`. */
  readonly machineTypes?: string | readonly string[];
  /** GPUs per runner. Default 0. */
  readonly numGpus?: number;
  /** Regions a runner may run in; empty means any. Default []. */
  readonly regions?: readonly string[];
  /** Scaling values of the code. Defaults as in FalAppScaling. */
  readonly scaling?: FalAppScaling;
  /** Apply the code's runtime-tunable values over the live ones. Default false. */
  readonly resetScale?: boolean;
  /** Note stored on a new revision. Default "". */
  readonly message?: string;
  /** Provenance stored on a new revision (e.g. `{ git_commit }`). Default {}. */
  readonly annotations?: Record<string, string>;
  /**
   * Pip requirement strings of the app's own Python environment, as in fal
   * (`["torch==2.4.0", "diffusers"]`). Default: the lines of
   * `requirements.txt` in `root`, else none (an empty environment).
   */
  readonly requirements?: readonly string[];
  /** Python version of the app's environment (`3.11`); the platform host must have it. Default: the platform's own. */
  readonly pythonVersion?: string;
  /**
   * Build each new revision's environment from scratch instead of taking a
   * cached one (the deploy check shows `disabled (no-cache)`). Code that did
   * not change makes no new revision, so nothing is rebuilt then. Default false.
   */
  readonly noCache?: boolean;
  /**
   * Rollback as code: serve this existing revision id instead of the code's.
   * Nothing is built; runtime-tunable values stay, code values come from that
   * revision. Default: the revision of the current code.
   */
  readonly pinRevision?: string;
  /**
   * Restart every runner of the app when this value changes (a rollout), e.g.
   * after a secret changed. Default "" (no rollout).
   */
  readonly rolloutTrigger?: string;
  /** Kill runners at once on a rollout instead of letting them finish. Default false. */
  readonly forceRollout?: boolean;
  /** Keep at most this many revisions (the active one included); older inactive ones are deleted. Default: keep all. */
  readonly revisionHistoryLimit?: number;
  /** How to reach the platform. Default: stack config `falplane:url` and secret `falplane:apiKey`. */
  readonly platform?: PlatformConnection;
}

export class FalApp extends pulumi.ComponentResource {
  /** `owner/app` in main, `owner/app--env` elsewhere: what callers pass to fal clients. */
  readonly endpointId: pulumi.Output<string>;
  /** The revision the alias serves after this deploy. */
  readonly revisionId: pulumi.Output<string>;
  readonly appName: string;
  readonly environment: string;
  /** The revision resource of the current code; undefined when pinRevision is set. */
  readonly revision: Revision | undefined;
  /**
   * The deploy check of this program run as plain text (also logged as an
   * info diagnostic of this resource). Computed from the live state read when
   * the program ran, i.e. before this run changed anything.
   */
  readonly deployCheck: pulumi.Output<string>;

  constructor(name: string, args: FalAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("falplane:index:FalApp", name, {}, opts);

    const settings = resolveSettings(name, args);
    this.appName = settings.appName;
    this.environment = settings.environment;
    const connection = resolveConnection(args.platform);
    const files = collectAppFiles(settings.sourceDir);
    const noCache = args.noCache ?? false;

    this.deployCheck = runDeployCheck(
      this,
      {
        appName: settings.appName,
        environment: settings.environment,
        sourceObject: settings.sourceObject,
        files,
        authMode: settings.authMode,
        strategy: settings.strategy.name,
        codeSettings: settings.codeSettings,
        scaling: settings.scaling,
        resetScale: args.resetScale ?? false,
        noCache,
      },
      connection,
    );

    if (args.revisionHistoryLimit !== undefined && (!Number.isInteger(args.revisionHistoryLimit) || args.revisionHistoryLimit < 1)) {
      throw new pulumi.RunError(`FalApp '${name}': revisionHistoryLimit must be a whole number >= 1, got ${JSON.stringify(args.revisionHistoryLimit)}`);
    }
    const commit = gitCommit(settings.sourceDir);
    const annotations: Record<string, string> = {
      ...(commit ? { git_commit: commit } : {}),
      ...args.annotations,
      ...(noCache ? { no_cache: "true" } : {}),
    };

    this.revision = args.pinRevision ? undefined : new Revision(
      `${name}-revision`,
      {
        appName: settings.appName,
        environment: settings.environment,
        sourceObject: settings.sourceObject,
        sourceDir: settings.sourceDir,
        files,
        codeSettings: settings.codeSettings,
        scaling: settings.scaling,
        authMode: settings.authMode,
        message: args.message,
        annotations,
        noCache,
        // The build log of a new revision is shown under the Revision while `pulumi up` waits.
        progressUrn: childUrn(this, `${name}-revision`, "pulumi-nodejs:dynamic/falplane:Revision"),
        connection,
      },
      // The check reads the live state before anything of this app changes.
      { parent: this, dependsOn: this.deployCheck.apply(() => [] as pulumi.Resource[]) },
    );

    const alias = new AppAlias(
      `${name}-alias`,
      {
        appName: settings.appName,
        environment: settings.environment,
        revisionId: this.revision ? this.revision.revisionId : args.pinRevision!,
        authMode: settings.authMode,
        strategy: settings.strategy.name,
        scaling: settings.scaling,
        resetScale: args.resetScale ?? false,
        rolloutTrigger: args.rolloutTrigger ?? "",
        forceRollout: args.forceRollout ?? false,
        revisionHistoryLimit: args.revisionHistoryLimit ?? 0,
        platformUrl: connection.platformUrl,
        apiKey: connection.apiKey,
      },
      { parent: this, additionalSecretOutputs: ["apiKey"] },
    );

    this.endpointId = alias.endpointId;
    this.revisionId = alias.revisionId;
    this.registerOutputs({ endpointId: this.endpointId, revisionId: this.revisionId, deployCheck: this.deployCheck });
  }
}

/**
 * The URN a child of `parent` will have, as a value that carries no
 * dependency: pulumi.createUrn's output depends on the parent component, and
 * depending on a component means waiting for all its children, this one too.
 */
function childUrn(parent: pulumi.ComponentResource, name: string, type: string): pulumi.Output<string> {
  const urn = new Promise<string>((resolveUrn) => {
    parent.urn.apply((p) => resolveUrn(`${p.substring(0, p.lastIndexOf("::"))}$${type}::${name}`));
  });
  return pulumi.output(urn);
}

/** The commit of the git checkout holding dir, for provenance; undefined outside git. */
function gitCommit(dir: string): string | undefined {
  try {
    const { execFileSync } = require("node:child_process") as typeof import("node:child_process");
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads the live app and its revision (two GETs, never a write), logs the
 * deploy check as an info diagnostic of `app` and returns its text. Runs only
 * once the URL and key are known, so no unknown value ever reaches the
 * platform; the key is used for the request only and never logged. A platform
 * that cannot be read gives a warning, never a failed preview.
 */
function runDeployCheck(app: FalApp, plan: PlannedDeploy, connection: ResolvedConnection): pulumi.Output<string> {
  const target = pulumi.all([connection.platformUrl, connection.apiKey]);
  const where = `${plan.appName} (env: ${plan.environment})`;
  whenUnknown(target, () =>
    pulumi.log.warn(`Deployment check: could not read the live state of ${where}: the platform URL or API key is not known until the deploy runs`, app),
  );
  const text = target.apply(async ([url, key]) => {
    let live;
    try {
      live = await readLiveState(new PlatformClient({ url, key, timeoutMs: CHECK_TIMEOUT_MS }), plan.appName, plan.environment, plan.codeSettings);
    } catch (err) {
      const reason = redact(err instanceof Error ? err.message : String(err), key);
      await pulumi.log.warn(`Deployment check: could not read the live state of ${where} from the platform: ${reason}`, app);
      return renderUnavailableCheck(plan.appName, plan.environment, reason);
    }
    let rendered: string;
    try {
      rendered = renderDeployCheck(computeDeployCheck(plan, live));
    } catch (err) {
      // A bug in the check must not stop a deploy: say so and go on.
      const reason = redact(err instanceof Error ? err.message : String(err), key);
      await pulumi.log.warn(`Deployment check: could not compute the check of ${where}: ${reason}`, app);
      return renderUnavailableCheck(plan.appName, plan.environment, reason, "be computed");
    }
    await pulumi.log.info(rendered, app);
    return rendered;
  });
  // The text holds no secret; without unsecret it would be `[secret]` because the key is an input.
  return pulumi.unsecret(text);
}

/** Calls `f` when `o` turns out unknown (a preview whose URL or key comes from a resource not yet created). */
function whenUnknown(o: pulumi.Output<unknown>, f: () => unknown): void {
  // `isKnown` is not in the SDK's typings but has been on every Output for years; without it we skip the warning.
  const isKnown = (o as unknown as { isKnown?: Promise<boolean> }).isKnown;
  if (isKnown instanceof Promise) void isKnown.then((known) => (known ? undefined : f()), () => undefined);
}

/** Removes the API key (and its secret half) from a message, should an error ever echo it. */
function redact(message: string, key: string): string {
  let out = message;
  for (const s of [key, key.split(":")[1]]) if (s && s.length >= 8) out = out.split(s).join("[secret]");
  return out;
}

/** The alias resource FalApp creates; one per (app, environment). */
class AppAlias extends pulumi.dynamic.Resource {
  declare readonly endpointId: pulumi.Output<string>;
  declare readonly revisionId: pulumi.Output<string>;

  constructor(name: string, props: Record<string, pulumi.Input<unknown>>, opts: pulumi.CustomResourceOptions) {
    super(appProvider, name, { ...props, endpointId: undefined, alias: undefined, liveScaling: undefined }, opts, "falplane", "App");
  }
}

interface ResolvedSettings {
  appName: string;
  environment: string;
  sourceObject: string;
  sourceDir: string;
  authMode: AuthMode;
  strategy: Strategy;
  codeSettings: CodeSettings;
  scaling: RuntimeScaling;
}

/** Validates FalApp's args and fills in defaults; errors quote the property and its value. */
export function resolveSettings(name: string, args: FalAppArgs): ResolvedSettings {
  const fail = (msg: string): never => {
    throw new pulumi.RunError(`FalApp '${name}': ${msg}`);
  };
  const machineTypes = typeof args.machineTypes === "string" ? [args.machineTypes] : [...(args.machineTypes ?? CODE_SETTINGS_DEFAULTS.machine_types)];
  const check = AppSpec.safeParse({
    source: args.source,
    name: args.name,
    authMode: args.authMode,
    machineTypes,
    numGpus: args.numGpus,
    regions: args.regions ? [...args.regions] : undefined,
    scaling: args.scaling,
    requirements: args.requirements ? [...args.requirements] : undefined,
    pythonVersion: args.pythonVersion,
  });
  if (!check.success) {
    const issue = check.error.issues[0];
    fail(`${issue.path.join(".") || "args"}: ${issue.message}`);
  }
  for (const t of machineTypes) {
    if (!MACHINE_TYPE_NAMES.includes(t)) fail(`machineTypes: unknown machine type ${JSON.stringify(t)}; allowed: ${MACHINE_TYPE_NAMES.join(", ")}`);
  }

  const [file, className] = args.source.split("::");
  const root = resolve(args.root ?? dirname(file));
  const absFile = resolve(file);
  if (!existsSync(absFile)) fail(`source: file ${JSON.stringify(file)} does not exist (resolved to ${absFile})`);
  if (!existsSync(root) || !statSync(root).isDirectory()) fail(`root: ${JSON.stringify(args.root ?? dirname(file))} is not a directory`);
  const relFile = relative(root, absFile);
  if (relFile.startsWith("..")) fail(`source: ${JSON.stringify(file)} is outside root ${JSON.stringify(args.root)}`);

  let requirements: string[] = [];
  try {
    requirements = resolveRequirements(root, args.requirements);
  } catch (err) {
    fail(`requirements: ${err instanceof Error ? err.message : String(err)}`);
  }

  const s = args.scaling ?? {};
  return {
    appName: args.name ?? kebabCase(className),
    environment: args.environment ?? "main",
    sourceObject: `${relFile.split("\\").join("/")}::${className}`,
    sourceDir: root,
    authMode: args.authMode ?? "private",
    strategy: args.strategy ?? Strategy.rolling(),
    codeSettings: {
      max_multiplexing: s.maxMultiplexing ?? CODE_SETTINGS_DEFAULTS.max_multiplexing,
      startup_timeout: s.startupTimeout ?? CODE_SETTINGS_DEFAULTS.startup_timeout,
      machine_types: machineTypes,
      num_gpus: args.numGpus ?? CODE_SETTINGS_DEFAULTS.num_gpus,
      requirements,
      python_version: args.pythonVersion ?? CODE_SETTINGS_DEFAULTS.python_version,
    },
    scaling: {
      keep_alive: s.keepAlive ?? RUNTIME_SCALING_DEFAULTS.keep_alive,
      min_concurrency: s.minConcurrency ?? RUNTIME_SCALING_DEFAULTS.min_concurrency,
      max_concurrency: s.maxConcurrency ?? RUNTIME_SCALING_DEFAULTS.max_concurrency,
      concurrency_buffer: s.concurrencyBuffer ?? RUNTIME_SCALING_DEFAULTS.concurrency_buffer,
      concurrency_buffer_perc: s.concurrencyBufferPerc ?? RUNTIME_SCALING_DEFAULTS.concurrency_buffer_perc,
      scaling_delay: s.scalingDelay ?? RUNTIME_SCALING_DEFAULTS.scaling_delay,
      request_timeout: s.requestTimeout ?? RUNTIME_SCALING_DEFAULTS.request_timeout,
      regions: [...(args.regions ?? [])],
    },
  };
}

