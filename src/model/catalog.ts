/**
 * The fixed vocabulary of the platform: machine types, auth modes, strategies
 * and the scaling values with their defaults (docs/semantics.md). Every
 * default is declared here once; the rule that decides which scaling values a
 * deploy applies is in ./scaling.
 */
import { z } from "zod";

export interface MachineType {
  readonly cpu: number;
  readonly memoryMb: number;
  readonly gpus: number;
  readonly gpuMemoryGb: number;
}

export const MACHINE_TYPES: Readonly<Record<string, MachineType>> = {
  XS: { cpu: 0.5, memoryMb: 512, gpus: 0, gpuMemoryGb: 0 },
  S: { cpu: 1, memoryMb: 1024, gpus: 0, gpuMemoryGb: 0 },
  M: { cpu: 2, memoryMb: 2048, gpus: 0, gpuMemoryGb: 0 },
  L: { cpu: 4, memoryMb: 15360, gpus: 0, gpuMemoryGb: 0 },
  "GPU-A6000": { cpu: 10, memoryMb: 18432, gpus: 1, gpuMemoryGb: 48 },
  "GPU-A100": { cpu: 12, memoryMb: 61440, gpus: 1, gpuMemoryGb: 40 },
  "GPU-H100": { cpu: 12, memoryMb: 114688, gpus: 1, gpuMemoryGb: 80 },
  "GPU-H200": { cpu: 12, memoryMb: 114688, gpus: 1, gpuMemoryGb: 141 },
  "GPU-B200": { cpu: 24, memoryMb: 114688, gpus: 1, gpuMemoryGb: 192 },
};

/** Names of apps and environments: lowercase letters, digits and single hyphens. */
export const NAME_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
export const NAME_RULE = "lowercase letters, digits and single hyphens";
/** Secret names are environment variable names. */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/;
export const SECRET_NAME_RULE = "an environment variable name: A-Z, 0-9 and _, not starting with a digit";
/** An app's entrypoint: `path/to/file.py::ClassName`. */
export const SOURCE_OBJECT_PATTERN = /^[^:]+\.py::[A-Za-z_][A-Za-z0-9_]*$/;
export const SOURCE_OBJECT_RULE = "path/to/file.py::ClassName";

/** One file of an app as the platform stores it: sha256 of the content and the file mode. */
export interface FileEntry {
  readonly hash: string;
  readonly mode: number;
}

export const MACHINE_TYPE_NAMES = Object.keys(MACHINE_TYPES) as readonly string[];

export const AUTH_MODES = ["private", "public", "shared"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
/** Auth mode of a deploy that names none (fal: deploys are private by default). */
export const DEFAULT_AUTH_MODE: AuthMode = "private";
/** Auth mode of an ephemeral run (`falctl run`) that names none (fal: `fal run` apps are public). */
export const EPHEMERAL_AUTH_MODE: AuthMode = "public";

export const STRATEGIES = ["rolling", "recreate"] as const;
export type StrategyName = (typeof STRATEGIES)[number];
/** How a new revision takes over when nothing says otherwise. */
export const DEFAULT_STRATEGY: StrategyName = "rolling";

/** Values an operator tunes at run time; inherited from the live alias across deploys. */
export interface RuntimeScaling {
  readonly keep_alive: number;
  readonly min_concurrency: number;
  readonly max_concurrency: number;
  readonly concurrency_buffer: number;
  readonly concurrency_buffer_perc: number;
  readonly scaling_delay: number;
  readonly request_timeout: number;
  readonly regions: readonly string[];
}

/** Values that belong to the code; always those of the revision being activated. */
export interface CodeSettings {
  readonly max_multiplexing: number;
  readonly startup_timeout: number;
  readonly machine_types: readonly string[];
  readonly num_gpus: number;
  /** Pip requirement strings of the app's own environment, normalised (docs/builds.md). */
  readonly requirements: readonly string[];
  /** Python version of the environment (`3.11`); null: the platform's own. */
  readonly python_version: string | null;
  /**
   * The app's container image pinned by digest, `<repository>:<tag>@sha256:<digest>`
   * (docs/images.md), for backends that run images (Kubernetes). Absent: the
   * app has no image (the local backend runs every app from its files).
   * Not in CODE_SETTINGS_DEFAULTS, so revisions without one keep their content hash.
   */
  readonly image?: string;
}

export const RUNTIME_SCALING_DEFAULTS: RuntimeScaling = {
  keep_alive: 60,
  min_concurrency: 0,
  max_concurrency: 2,
  concurrency_buffer: 0,
  concurrency_buffer_perc: 0,
  scaling_delay: 0,
  request_timeout: 3600,
  regions: [],
};

export const CODE_SETTINGS_DEFAULTS: CodeSettings = {
  max_multiplexing: 1,
  startup_timeout: 600,
  machine_types: ["S"],
  num_gpus: 0,
  requirements: [],
  python_version: null,
};

/**
 * The one range of every numeric scaling value, shared by the API's bodies
 * (src/contract/schemas.ts) and the stack spec (./appSpec.ts), so a value the
 * spec accepts is one the platform accepts and the other way round. The
 * maxima are also safety limits: every value in seconds becomes a timer in
 * milliseconds, and Node's timers overflow past 2^31-1 ms (~24.8 days), so no
 * seconds value may exceed 7 days (604800 s = 6.0e8 ms). docs/app-spec.md and
 * docs/platform-api.md show this table.
 */
export const SCALING_BOUNDS = {
  keep_alive: { min: 0, max: 604800, unit: "seconds" },
  min_concurrency: { min: 0, max: 1000, unit: "runners" },
  max_concurrency: { min: 0, max: 1000, unit: "runners" },
  concurrency_buffer: { min: 0, max: 1000, unit: "runners" },
  concurrency_buffer_perc: { min: 0, max: 100, unit: "percent" },
  scaling_delay: { min: 0, max: 3600, unit: "seconds" },
  request_timeout: { min: 1, max: 86400, unit: "seconds" },
  max_multiplexing: { min: 1, max: 1000, unit: "requests" },
  startup_timeout: { min: 1, max: 86400, unit: "seconds" },
  num_gpus: { min: 0, max: 8, unit: "GPUs" },
  revision_history_limit: { min: 1, max: 10000, unit: "revisions" },
} as const satisfies Record<string, { min: number; max: number; unit: string }>;
export type BoundedField = keyof typeof SCALING_BOUNDS;

/** How many regions an app may list, and how long one region name may be. */
export const REGION_BOUNDS = { maxCount: 32, maxLength: 64 } as const;

/**
 * The message for a value outside its SCALING_BOUNDS entry, naming the bound:
 * `must be at most 86400 (seconds), got 5000000`. `got` is left out where the
 * caller shows the value itself (the stack spec's `(found …)`).
 */
export function boundMessage(field: BoundedField, value: unknown, withValue = true): string {
  const b = SCALING_BOUNDS[field];
  const got = withValue ? `, got ${typeof value === "number" ? String(value) : JSON.stringify(value)}` : "";
  if (typeof value !== "number" || !Number.isFinite(value)) return `must be a whole number from ${b.min} to ${b.max} (${b.unit})${got}`;
  if (!Number.isInteger(value)) return `must be a whole number (${b.unit})${got}`;
  if (value < b.min) return `must be at least ${b.min} (${b.unit})${got}`;
  return `must be at most ${b.max} (${b.unit})${got}`;
}

/** A zod schema of one bounded field: a whole number within its SCALING_BOUNDS, every failure naming the bound. */
export function boundedInt(field: BoundedField, withValue = true) {
  const b = SCALING_BOUNDS[field];
  const error = (iss: { input?: unknown }) => boundMessage(field, iss.input, withValue);
  // abort: one value, one message (1e300 is neither a safe integer nor under the maximum).
  return z.number({ error }).int({ error, abort: true }).min(b.min, { error, abort: true }).max(b.max, { error });
}

/** A container image reference: `host[:port]/path[:tag][@sha256:<digest>]`, lowercase (`python:3.11`, `registry.internal:5000/ml/app:v1`). */
export const IMAGE_REF_PATTERN = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:\w[\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;
/** Where image apps are pushed: `host[:port]/path`, no tag. */
export const IMAGE_REGISTRY_PATTERN = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/;
/** A revision's image: a reference pinned by its digest, so the revision stays immutable. */
export const PINNED_IMAGE_PATTERN = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:\w[\w.-]{0,127})?@sha256:[0-9a-f]{64}$/;

/** `3`, `3.11`, `3.11.7`: what pythonVersion may say. */
export const PYTHON_VERSION_PATTERN = /^3(\.\d{1,2}){0,2}$/;

export const RUNTIME_SCALING_KEYS = Object.keys(RUNTIME_SCALING_DEFAULTS) as (keyof RuntimeScaling)[];
export const CODE_SETTING_KEYS = Object.keys(CODE_SETTINGS_DEFAULTS) as (keyof CodeSettings)[];

/** `TextToImage` → `text-to-image`; the default app name of a class. */
export function kebabCase(className: string): string {
  return className
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .replace(/[_\s]+/g, "-")
    .toLowerCase();
}

/** Endpoint alias of an app in an environment: `app` in main, `app--env` elsewhere. */
export function aliasName(app: string, environment: string): string {
  return environment === "main" ? app : `${app}--${environment}`;
}

/** Inverse of aliasName. */
export function parseAliasName(alias: string): { app: string; environment: string } {
  const i = alias.lastIndexOf("--");
  if (i <= 0) return { app: alias, environment: "main" };
  return { app: alias.slice(0, i), environment: alias.slice(i + 2) };
}
