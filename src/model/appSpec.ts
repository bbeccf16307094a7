/**
 * The app spec a stack deploys: `stacks/apps.<stack>.yaml`, validated with
 * zod. Errors name the file, the line, the path inside it, the value found
 * and what is allowed, so a reviewer can fix the spec from the message alone.
 */
import { readFileSync } from "node:fs";
import { posix, win32 } from "node:path";
import { LineCounter, parseDocument, isNode } from "yaml";
import { z } from "zod";
import {
  AUTH_MODES,
  IMAGE_REF_PATTERN,
  IMAGE_REGISTRY_PATTERN,
  MACHINE_TYPE_NAMES,
  NAME_PATTERN,
  PYTHON_VERSION_PATTERN,
  REGION_BOUNDS,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SOURCE_OBJECT_PATTERN,
  SOURCE_OBJECT_RULE,
  STRATEGIES,
  boundedInt,
  kebabCase,
  type BoundedField,
} from "./catalog";

const nameSchema = z
  .string()
  .max(63)
  .regex(NAME_PATTERN, { message: "must be lowercase letters, digits and single hyphens (e.g. text-to-image)" });

/** A whole number within catalog.ts's SCALING_BOUNDS for `field`, the range the API enforces too; the error shows the value already. */
const bounded = (field: BoundedField) => boundedInt(field, false);

/**
 * Most aliases (`*name`) a spec may expand. A real spec uses a few; a YAML
 * "billion laughs" document uses them to expand into gigabytes.
 */
const MAX_YAML_ALIASES = 100;

/** Why `root` is refused; undefined when it is a relative path that stays inside the project. */
function rootProblem(root: string): string | undefined {
  if (root.length === 0) return "must not be empty (leave it out for the source file's directory)";
  if (root.includes("\0")) return "must not contain a NUL character";
  if (posix.isAbsolute(root) || win32.isAbsolute(root)) return `must be a relative path inside the project, not an absolute one (got ${JSON.stringify(root)})`;
  const normal = posix.normalize(root.replace(/\\/g, "/"));
  if (normal === ".." || normal.startsWith("../")) return `must stay inside the project; ${JSON.stringify(root)} climbs out of it with ..`;
  return undefined;
}

export const ScalingSpec = z.strictObject({
  /** Seconds an idle runner is kept. Default 60. */
  keepAlive: bounded("keep_alive").optional(),
  /** Runners kept running even without traffic. Default 0. */
  minConcurrency: bounded("min_concurrency").optional(),
  /** Most runners at once. Default 2. */
  maxConcurrency: bounded("max_concurrency").optional(),
  /** Extra runners kept ahead of demand. Default 0. */
  concurrencyBuffer: bounded("concurrency_buffer").optional(),
  /** Extra runners as a percentage of demand. Default 0. */
  concurrencyBufferPerc: bounded("concurrency_buffer_perc").optional(),
  /** Seconds a request waits unserved before it triggers a scale-up. Default 0. */
  scalingDelay: bounded("scaling_delay").optional(),
  /** Seconds a request may run. Default 3600. */
  requestTimeout: bounded("request_timeout").optional(),
  /** Requests one runner holds at once (code-specific). Default 1. */
  maxMultiplexing: bounded("max_multiplexing").optional(),
  /** Seconds setup may take before the runner counts as failed (code-specific). Default 600. */
  startupTimeout: bounded("startup_timeout").optional(),
});

const machineType = z.enum(MACHINE_TYPE_NAMES as [string, ...string[]], {
  error: (iss) => `unknown machine type ${JSON.stringify(iss.input)}; allowed: ${MACHINE_TYPE_NAMES.join(", ")}`,
});

/**
 * The app as a container image (docs/images.md), built with BuildKit through
 * `@pulumi/docker-build` and pushed under a tag that is the content hash of
 * what goes into it. Either a Dockerfile (default: `Dockerfile` in the app's
 * root) or `baseImage` plus the app's requirements. Default: no image (the
 * app runs from its files, as every app without this field).
 */
export const ImageSpec = z
  .strictObject({
    /** Dockerfile, relative to the project. Default: `Dockerfile` in the app's root (with no baseImage). */
    dockerfile: z.string().superRefine((p, ctx) => {
      const problem = rootProblem(p);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }).optional(),
    /** Build context directory, relative to the project. Default: the app's root. */
    context: z.string().superRefine((p, ctx) => {
      const problem = rootProblem(p);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }).optional(),
    /** Instead of a Dockerfile: this image plus the app's files and requirements (pip install). Default: none. */
    baseImage: z.string().max(1000).regex(IMAGE_REF_PATTERN, { message: "must be an image reference such as registry.internal:5000/python:3.11" }).optional(),
    /** Build arguments (`ARG` values) of the Dockerfile. Default {}. */
    buildArgs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "must be an ARG name" }), z.string().max(10000)).optional(),
    /** Registry and path the image is pushed to (`host[:port]/path`); the repository is `<registry>/<app name>`. Default: stack config `falplane:imageRegistry`. */
    registry: z.string().max(500).regex(IMAGE_REGISTRY_PATTERN, { message: "must be host[:port]/path without a tag, e.g. registry.internal:5000/ml" }).optional(),
  })
  .refine((i) => !(i.baseImage && (i.dockerfile || i.context)), {
    message: "set either baseImage or dockerfile/context, not both",
    path: ["baseImage"],
  });

export const AppSpec = z
  .strictObject({
    /** `path/to/file.py::ClassName`, relative to the infra repo root (the Pulumi program's directory). */
    source: z
      .string()
      .regex(SOURCE_OBJECT_PATTERN, { message: `must look like ${SOURCE_OBJECT_RULE}` }),
    /** App name. Default: the class name in kebab case (`TextToImage` → `text-to-image`). */
    name: nameSchema.optional(),
    /** Directory uploaded as the app's files. Default: the directory of the source file. */
    root: z
      .string()
      .superRefine((root, ctx) => {
        const problem = rootProblem(root);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    /** Who may call the app. Default private. */
    authMode: z.enum(AUTH_MODES).optional(),
    /** How a new revision takes over. Default rolling. */
    strategy: z.enum(STRATEGIES).optional(),
    /** One machine type. Default S. */
    machineType: machineType.optional(),
    /** A list of machine types (widens the pool); instead of machineType. Default [S]. */
    machineTypes: z.array(machineType).min(1).optional(),
    /** GPUs per runner. Default 0. */
    numGpus: bounded("num_gpus").optional(),
    /** Regions a runner may be placed in; empty means any. Default []. */
    regions: z
      .array(z.string().min(1).max(REGION_BOUNDS.maxLength, `a region name has at most ${REGION_BOUNDS.maxLength} characters`))
      .max(REGION_BOUNDS.maxCount, `at most ${REGION_BOUNDS.maxCount} regions`)
      .optional(),
    /** Apply the code's runtime-tunable scaling values over the live ones. Default false. */
    resetScale: z.boolean().optional(),
    /** The code's scaling values; each field's default is on ScalingSpec. */
    scaling: ScalingSpec.optional(),
    /** A note stored on each new revision. Default "". */
    message: z.string().max(2000).optional(),
    /**
     * Pip requirement strings of the app's own Python environment, as in fal.
     * Default: the lines of `requirements.txt` in the app's root, else none.
     */
    requirements: z.array(z.string().min(1).max(1000)).max(1000).optional(),
    /** Python version of the app's environment (`3.11`); the platform host must have it. Default: the platform's own. */
    pythonVersion: z.string().regex(PYTHON_VERSION_PATTERN, { message: "must be a Python version such as 3.11" }).optional(),
    /**
     * Build each new revision's environment from scratch instead of taking a
     * cached one (the deploy check shows `disabled (no-cache)`). Code that did
     * not change makes no new revision, so nothing is rebuilt then. Default false.
     */
    noCache: z.boolean().optional(),
    /**
     * Rollback as code: serve this existing revision id instead of the code's.
     * Nothing is built; runtime-tunable values stay, code values come from that
     * revision. Default: the revision of the current code.
     */
    pinRevision: z.string().min(1).optional(),
    /** Restart every runner of the app when this value changes (a rollout), e.g. after a secret changed. Default "" (no rollout). */
    rolloutTrigger: z.string().optional(),
    /** Kill runners at once on a rollout instead of letting them finish. Default false. */
    forceRollout: z.boolean().optional(),
    /** Keep at most this many revisions (the active one included); older inactive ones are deleted. Default: keep all. */
    revisionHistoryLimit: bounded("revision_history_limit").optional(),
    /** Build and push a container image of the app; the revision records its digest (docs/images.md). Default: no image. */
    image: ImageSpec.optional(),
  })
  .refine((a) => !(a.machineType && a.machineTypes), {
    message: "set either machineType or machineTypes, not both",
    path: ["machineTypes"],
  });

export const StackSpec = z.strictObject({
  /** Environment the apps of this file deploy into. `main` always exists; others are created. */
  environment: nameSchema.default("main"),
  /** Protect the environment from deletion by `pulumi destroy`. Default false. */
  protectEnvironment: z.boolean().optional(),
  /**
   * Names of the environment's secrets. Values come from secret stack config:
   * `pulumi config set --secret --path 'falplane:secrets.<NAME>' <value>`. Default [].
   */
  secrets: z
    .array(z.string().regex(SECRET_NAME_PATTERN, { message: `must be ${SECRET_NAME_RULE}` }))
    .default([]),
  apps: z
    .array(AppSpec)
    .min(1, { message: "list at least one app" })
    .superRefine((apps, ctx) => {
      // Two entries with one name would deploy over each other; the name may come from the class.
      const first = new Map<string, number>();
      apps.forEach((a, i) => {
        if (typeof a?.source !== "string" || !SOURCE_OBJECT_PATTERN.test(a.source)) return; // reported on its own
        const name = appNameOf(a);
        const j = first.get(name);
        if (j === undefined) first.set(name, i);
        else ctx.addIssue({ code: "custom", path: [i], message: `apps[${j}] and apps[${i}] are both named ${JSON.stringify(name)}; app names must be unique in a file` });
      });
    }),
});

export type AppSpec = z.infer<typeof AppSpec>;
export type StackSpec = z.infer<typeof StackSpec>;
export type ScalingSpec = z.infer<typeof ScalingSpec>;
export type ImageSpec = z.infer<typeof ImageSpec>;

/**
 * A spec's fields as TypeScript code passes them (FalApp's args): each field
 * and each list or object in it readonly. A mapped type, so every field keeps
 * the documentation written once on the schema above.
 */
export type ReadonlySpec<T> = { readonly [K in keyof T]: ReadonlyValue<T[K]> };
type ReadonlyValue<V> = V extends readonly (infer E)[] ? readonly E[] : V extends object ? { readonly [K in keyof V]: V[K] } : V;

/** An app's name: the one it sets, else its class name in kebab case (`TextToImage` → `text-to-image`). */
export function appNameOf(app: { readonly source: string; readonly name?: string }): string {
  return app.name ?? kebabCase(app.source.split("::")[1]);
}

/** A spec that failed validation; the message lists every problem. */
export class SpecError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid app spec:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "SpecError";
  }
}

export function loadStackSpec(file: string): StackSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SpecError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseStackSpec(text, file);
}

export function parseStackSpec(text: string, file: string): StackSpec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new SpecError(
      file,
      doc.errors.map((e) => `line ${lines.linePos(e.pos[0]).line}: YAML syntax: ${e.message.split("\n")[0]}`),
    );
  }
  let plain: unknown;
  try {
    plain = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // yaml throws a ReferenceError when aliases expand past maxAliasCount (a "billion laughs" document).
    if (err instanceof ReferenceError) throw new SpecError(file, [`too many YAML aliases (the document expands past ${MAX_YAML_ALIASES} of them): ${err.message}`]);
    throw err;
  }
  const result = StackSpec.safeParse(plain ?? {});
  if (result.success) return result.data;
  throw new SpecError(
    file,
    result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      const node = doc.getIn(issue.path as (string | number)[], true);
      const where = isNode(node) && node.range ? `line ${lines.linePos(node.range[0]).line}, ` : "";
      const value = valueAt(plain, issue.path as (string | number)[]);
      const shown = value === undefined ? "" : ` (found ${JSON.stringify(value)})`;
      return `${where}${path.length ? formatPath(path) : "(top level)"}: ${issue.message}${shown}`;
    }),
  );
}

function formatPath(path: string[]): string {
  return path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return typeof cur === "object" ? undefined : cur;
}
