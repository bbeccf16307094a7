/**
 * Request bodies and query strings of the platform API: what the server
 * validates at the edge (src/platform/api) and what the client's request
 * types are derived from (src/client/types.ts, with z.input). The OpenAPI
 * document renders these same schemas, so the three cannot drift apart.
 *
 * The patterns and their rule texts are the app model's (src/model/catalog.ts),
 * declared there once: the components check names with them at preview time.
 */
import { z } from "zod";
import {
  AUTH_MODES,
  MACHINE_TYPE_NAMES,
  REGION_BOUNDS,
  boundedInt,
  NAME_PATTERN,
  NAME_RULE,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SOURCE_OBJECT_PATTERN,
  PINNED_IMAGE_PATTERN,
  PYTHON_VERSION_PATTERN,
  SOURCE_OBJECT_RULE,
  STRATEGIES,
} from "../model/catalog";

/** A blob's name: the sha256 of its content, lowercase hex. */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

const name = z.string().max(63).regex(NAME_PATTERN, NAME_RULE);

/** What a key may do: API calls apps; ADMIN also manages the platform. */
export const KeyScope = z.enum(["API", "ADMIN"]);

/** Most permission bits a file mode may carry (rwx for all, setuid, setgid, sticky). */
const MAX_FILE_MODE = 0o7777;
/** One file of a revision: its content's hash (uploaded before) and its mode. */
export const FileEntryBody = z.strictObject({
  hash: z.string().regex(SHA256_PATTERN, "sha256 hex"),
  mode: z.number().int().min(0).max(MAX_FILE_MODE, `must be a file mode from 0 to 0o7777 (${MAX_FILE_MODE})`),
});

/** Most files one revision may have, and the longest name one may have. */
export const FILE_LIMITS = { maxFiles: 10000, maxPathLength: 1024 } as const;

/**
 * Why a revision's file name is refused; undefined when it is fine. Runners
 * unpack the files under their revision's directory, so a name must stay
 * inside it: a relative POSIX path with no `..`, `.` or empty segment.
 */
export function filePathProblem(path: string): string | undefined {
  if (path.length === 0) return "file name is empty";
  if (path.length > FILE_LIMITS.maxPathLength) return `file name is longer than ${FILE_LIMITS.maxPathLength} characters`;
  if (path.includes("\0")) return "file name contains a NUL character";
  if (path.includes("\\")) return "file name contains a backslash; use / between directories";
  if (path.startsWith("/")) return "file name must be a relative path inside the revision, not absolute";
  const segments = path.split("/");
  if (segments.some((s) => s === "")) return "file name has an empty segment (a leading, trailing or doubled /)";
  if (segments.some((s) => s === "..")) return "file name must not contain a .. segment (it would leave the revision)";
  if (segments.some((s) => s === ".")) return "file name must not contain a . segment";
  return undefined;
}

/** A revision's files: path → entry; each path checked by filePathProblem, the count bounded. */
const RevisionFiles = z.record(z.string(), FileEntryBody).superRefine((files, ctx) => {
  const paths = Object.keys(files);
  if (paths.length > FILE_LIMITS.maxFiles) {
    ctx.addIssue({ code: "custom", message: `at most ${FILE_LIMITS.maxFiles} files, got ${paths.length}` });
    return;
  }
  for (const path of paths) {
    const problem = filePathProblem(path);
    if (problem) ctx.addIssue({ code: "custom", path: [path], message: `${JSON.stringify(path)}: ${problem}` });
  }
});

/** Regions a runner may be placed in: a bounded list of short names. */
const regions = z
  .array(z.string().min(1).max(REGION_BOUNDS.maxLength, `a region name has at most ${REGION_BOUNDS.maxLength} characters`))
  .max(REGION_BOUNDS.maxCount, `at most ${REGION_BOUNDS.maxCount} regions`);

/** Each value's range is catalog.ts's SCALING_BOUNDS, the one the stack spec uses too. */
export const RuntimeScalingBody = z.strictObject({
  keep_alive: boundedInt("keep_alive"),
  min_concurrency: boundedInt("min_concurrency"),
  max_concurrency: boundedInt("max_concurrency"),
  concurrency_buffer: boundedInt("concurrency_buffer"),
  concurrency_buffer_perc: boundedInt("concurrency_buffer_perc"),
  scaling_delay: boundedInt("scaling_delay"),
  request_timeout: boundedInt("request_timeout"),
  regions,
});

const requirements = z.array(z.string().min(1).max(1000)).max(1000).default([]);
const pythonVersion = z.string().regex(PYTHON_VERSION_PATTERN, "a Python version such as 3.11").nullable().default(null);

export const CodeSettingsBody = z.strictObject({
  max_multiplexing: boundedInt("max_multiplexing"),
  startup_timeout: boundedInt("startup_timeout"),
  machine_types: z.array(z.enum(MACHINE_TYPE_NAMES as [string, ...string[]])).min(1).max(MACHINE_TYPE_NAMES.length),
  num_gpus: boundedInt("num_gpus"),
  requirements,
  python_version: pythonVersion,
  /** The app's container image, pinned by digest (`repo:tag@sha256:...`); absent for apps without one. */
  image: z.string().max(1000).regex(PINNED_IMAGE_PATTERN, "an image reference pinned by digest: <repository>[:<tag>]@sha256:<64 hex>").optional(),
});

export const CreateEnvironmentBody = z.strictObject({ name });

export const CreateRevisionBody = z.strictObject({
  source_object: z.string().regex(SOURCE_OBJECT_PATTERN, SOURCE_OBJECT_RULE),
  files: RevisionFiles,
  code_settings: CodeSettingsBody,
  scaling: RuntimeScalingBody,
  auth_mode: z.enum(AUTH_MODES),
  message: z.string().max(2000).default(""),
  annotations: z.record(z.string(), z.string()).default({}),
  /** Build the revision's environment from scratch, not from the build cache. */
  no_cache: z.boolean().default(false),
});

/** What the deploy check asks: would these requirements build, or hit the cache? */
export const PlanBuildBody = z.strictObject({ requirements, python_version: pythonVersion });

export const BuildLogQuery = z.object({ offset: z.coerce.number().int().min(0).default(0) });

export const UpdateAppBody = z.strictObject({
  revision_id: z.string().optional(),
  strategy: z.enum(STRATEGIES).optional(),
  auth_mode: z.enum(AUTH_MODES).optional(),
  scaling: RuntimeScalingBody.partial().optional(),
});

export const MissingBlobsBody = z.strictObject({ hashes: z.array(z.string().regex(SHA256_PATTERN)).max(10000) });

export const CreateKeyBody = z.strictObject({
  scope: KeyScope.default("API"),
  alias: z.string().max(200).default(""),
});

export const SetSecretBody = z.strictObject({ value: z.string().max(65536) });
export const SecretName = z.string().max(256).regex(SECRET_NAME_PATTERN, SECRET_NAME_RULE);
export const RolloutBody = z.strictObject({ force: z.boolean().default(false) });

export const EnvQuery = z.object({ env: name.default("main") });

export { name as NameSchema };
