/**
 * A model-serving app in one environment: a Revision of its code and the
 * AppAlias that points the app's endpoint at it.
 *
 * A change of code or of a code-specific setting (machine types, GPUs,
 * max_multiplexing, startup_timeout, requirements) makes a new Revision and
 * moves the alias with the chosen Strategy. Auth mode changes update the alias
 * in place. Runtime-tunable scaling values apply on the first deploy and with
 * `resetScale`; otherwise the live values are kept (fal's inheritance rule,
 * src/model/scaling.ts).
 *
 * Every program run (preview and up) reads the live app from the platform and
 * logs the deploy check under this resource (docs/deploy-check.md,
 * src/check); the same text is the output `deployCheck`.
 */
import * as pulumi from "@pulumi/pulumi";
import { dirname, relative, resolve } from "node:path";
import { existsSync, statSync } from "node:fs";
import { DEFAULT_AUTH_MODE, DEFAULT_STRATEGY, type AuthMode } from "../src/model/catalog";
import { AppSpec, appNameOf, type ReadonlySpec, type ScalingSpec } from "../src/model/appSpec";
import { collectAppFiles } from "../src/model/files";
import { RequirementsError } from "../src/model/requirements";
import { readClassSettings, resolveCodeValues, type CodeValues } from "../src/model/classSettings";
import { logDeployCheck } from "../src/check/logCheck";
import { AppAlias } from "./AppAlias";
import { buildAppImage, planImage, type ImagePlan } from "./AppImage";
import { Revision } from "./Revision";
import { Strategy } from "./Strategy";
import { resolveConnection, type PlatformConnection } from "./connection";

/** The code's scaling values: the app spec's `scaling:` block, each field documented (with its default) there. */
export type FalAppScaling = ReadonlySpec<ScalingSpec>;

/**
 * FalApp's args: the fields of an app in the app spec (src/model/appSpec.ts
 * documents each one with its default), plus what only a program gives.
 */
export interface FalAppArgs extends Omit<ReadonlySpec<AppSpec>, "strategy" | "machineType" | "machineTypes"> {
  /** Environment to deploy into (in the app spec: the file's `environment`). Default `main`. */
  readonly environment?: string;
  /** How a new revision takes over. Default `Strategy.rolling()`. */
  readonly strategy?: Strategy;
  /** One machine type or a list of them (the spec's `machineType` or `machineTypes`). Default `S`. */
  readonly machineTypes?: string | readonly string[];
  /** Provenance stored on a new revision, next to the `git_commit` FalApp adds itself. Default {}. */
  readonly annotations?: Record<string, string>;
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
    // An image app (docs/images.md): the tag is the content hash, known before anything is built.
    let imagePlan: ImagePlan | undefined;
    if (args.image && !args.pinRevision) {
      try {
        imagePlan = planImage({
          spec: args.image,
          appName: settings.appName,
          sourceDir: settings.sourceDir,
          files,
          requirements: settings.codeSettings.requirements,
          registry: args.image.registry ?? new pulumi.Config("falplane").get("imageRegistry"),
        });
      } catch (err) {
        throw new pulumi.RunError(`FalApp '${name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    this.deployCheck = logDeployCheck(
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
        appClass: { sdk: settings.sdk, className: settings.className },
        origins: settings.origins,
        ignoredSettings: settings.ignoredSettings,
        image: imagePlan ? { ref: imagePlan.ref, from: imagePlan.from } : undefined,
      },
      connection,
    );

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
        // An image app's revision records the pushed image, pinned by digest: a new digest is a new revision.
        codeSettings: imagePlan
          ? buildAppImage(`${name}-image`, imagePlan, this).apply((image) => ({ ...settings.codeSettings, image }))
          : settings.codeSettings,
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
        connection,
      },
      { parent: this },
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

/** FalApp's args validated, with every default filled in: the code values plus what only the deploy adds. */
interface ResolvedSettings extends Omit<CodeValues, "authMode"> {
  readonly environment: string;
  /** `file.py::Class`, relative to sourceDir. */
  readonly sourceObject: string;
  /** Absolute directory whose files make the revision. */
  readonly sourceDir: string;
  readonly authMode: AuthMode;
  readonly strategy: Strategy;
}

/**
 * Validates FalApp's args with the app spec's own schema and fills in the
 * defaults; errors quote the property and its value. Runs in the constructor,
 * before anything reaches the platform.
 */
export function resolveSettings(name: string, args: FalAppArgs): ResolvedSettings {
  const fail = (msg: string): never => {
    throw new pulumi.RunError(`FalApp '${name}': ${msg}`);
  };
  const machineTypes = typeof args.machineTypes === "string" ? [args.machineTypes] : args.machineTypes;
  const check = AppSpec.safeParse({
    source: args.source,
    name: args.name,
    authMode: args.authMode,
    machineTypes,
    numGpus: args.numGpus,
    regions: args.regions,
    scaling: args.scaling,
    requirements: args.requirements,
    pythonVersion: args.pythonVersion,
    image: args.image,
  });
  if (!check.success) {
    const issue = check.error.issues[0];
    fail(`${issue.path.join(".") || "args"}: ${issue.message}`);
  }
  if (args.revisionHistoryLimit !== undefined && (!Number.isInteger(args.revisionHistoryLimit) || args.revisionHistoryLimit < 1)) {
    fail(`revisionHistoryLimit must be a whole number >= 1, got ${JSON.stringify(args.revisionHistoryLimit)}`);
  }

  const [file, className] = args.source.split("::");
  const root = resolve(args.root ?? dirname(file));
  const absFile = resolve(file);
  if (!existsSync(absFile)) fail(`source: file ${JSON.stringify(file)} does not exist (resolved to ${absFile})`);
  if (!existsSync(root) || !statSync(root).isDirectory()) fail(`root: ${JSON.stringify(args.root ?? dirname(file))} is not a directory`);
  const relFile = relative(root, absFile);
  if (relFile.startsWith("..")) fail(`source: ${JSON.stringify(file)} is outside root ${JSON.stringify(args.root)}`);

  // The class's own settings (fal's class attributes, pyproject.toml) are the code's values; the spec overrides them.
  let code: CodeValues;
  try {
    code = resolveCodeValues(absFile, className, root, {
      name: args.name,
      authMode: args.authMode,
      machineTypes,
      numGpus: args.numGpus,
      regions: args.regions,
      requirements: args.requirements,
      scaling: args.scaling,
      pythonVersion: args.pythonVersion,
    });
  } catch (err) {
    const what = err instanceof RequirementsError ? "requirements" : `source ${args.source}`;
    return fail(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }

  return {
    ...code,
    environment: args.environment ?? "main",
    sourceObject: `${relFile.split("\\").join("/")}::${className}`,
    sourceDir: root,
    authMode: code.authMode ?? DEFAULT_AUTH_MODE,
    strategy: args.strategy ?? Strategy.of(DEFAULT_STRATEGY),
  };
}

/**
 * The name of the app `args` deploys: the spec's `name`, else the class's
 * `app_name` (attribute, class keyword or pyproject.toml), else the class
 * name in kebab case. Reads the class, as resolveSettings does.
 */
export function appNameFor(args: { readonly source: string; readonly name?: string }): string {
  if (args.name) return args.name;
  const [file, className] = args.source.split("::");
  try {
    const cls = readClassSettings(resolve(file), className);
    return cls.appName ?? cls.defaultAppName;
  } catch {
    // resolveSettings reports the problem with the app's own resource name.
    return appNameOf(args);
  }
}
