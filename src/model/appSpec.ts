/**
 * The app spec a stack deploys: `stacks/apps.<stack>.yaml`, validated with
 * zod. Errors name the file, the line, the path inside it, the value found
 * and what is allowed, so a reviewer can fix the spec from the message alone.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, isNode } from "yaml";
import { z } from "zod";
import {
  AUTH_MODES,
  MACHINE_TYPE_NAMES,
  NAME_PATTERN,
  PYTHON_VERSION_PATTERN,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SOURCE_OBJECT_PATTERN,
  SOURCE_OBJECT_RULE,
  STRATEGIES,
  kebabCase,
} from "./catalog";

const nameSchema = z
  .string()
  .max(63)
  .regex(NAME_PATTERN, { message: "must be lowercase letters, digits and single hyphens (e.g. text-to-image)" });

const wholeAtLeast = (min: number) => z.number().int().min(min);

export const ScalingSpec = z.strictObject({
  /** Seconds an idle runner is kept. Default 60. */
  keepAlive: wholeAtLeast(0).optional(),
  /** Runners kept running even without traffic. Default 0. */
  minConcurrency: wholeAtLeast(0).optional(),
  /** Most runners at once. Default 2. */
  maxConcurrency: wholeAtLeast(0).optional(),
  /** Extra runners kept ahead of demand. Default 0. */
  concurrencyBuffer: wholeAtLeast(0).optional(),
  /** Extra runners as a percentage of demand. Default 0. */
  concurrencyBufferPerc: wholeAtLeast(0).max(100).optional(),
  /** Seconds a request waits unserved before it triggers a scale-up. Default 0. */
  scalingDelay: wholeAtLeast(0).optional(),
  /** Seconds a request may run. Default 3600. */
  requestTimeout: wholeAtLeast(1).optional(),
  /** Requests one runner holds at once (code-specific). Default 1. */
  maxMultiplexing: wholeAtLeast(1).optional(),
  /** Seconds setup may take before the runner counts as failed (code-specific). Default 600. */
  startupTimeout: wholeAtLeast(1).optional(),
});

const machineType = z.enum(MACHINE_TYPE_NAMES as [string, ...string[]], {
  error: (iss) => `unknown machine type ${JSON.stringify(iss.input)}; allowed: ${MACHINE_TYPE_NAMES.join(", ")}`,
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
    root: z.string().optional(),
    /** Who may call the app. Default private. */
    authMode: z.enum(AUTH_MODES).optional(),
    /** How a new revision takes over. Default rolling. */
    strategy: z.enum(STRATEGIES).optional(),
    /** One machine type. Default S. */
    machineType: machineType.optional(),
    /** A list of machine types (widens the pool); instead of machineType. Default [S]. */
    machineTypes: z.array(machineType).min(1).optional(),
    /** GPUs per runner. Default 0. */
    numGpus: wholeAtLeast(0).optional(),
    /** Regions a runner may be placed in; empty means any. Default []. */
    regions: z.array(z.string().min(1)).optional(),
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
    revisionHistoryLimit: wholeAtLeast(1).optional(),
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
  apps: z.array(AppSpec).min(1, { message: "list at least one app" }),
});

export type AppSpec = z.infer<typeof AppSpec>;
export type StackSpec = z.infer<typeof StackSpec>;
export type ScalingSpec = z.infer<typeof ScalingSpec>;

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
  const result = StackSpec.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new SpecError(
    file,
    result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      const node = doc.getIn(issue.path as (string | number)[], true);
      const where = isNode(node) && node.range ? `line ${lines.linePos(node.range[0]).line}, ` : "";
      const value = valueAt(doc.toJS(), issue.path as (string | number)[]);
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
