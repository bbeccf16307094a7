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
  NAME_PATTERN,
  NAME_RULE,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SOURCE_OBJECT_PATTERN,
  PYTHON_VERSION_PATTERN,
  SOURCE_OBJECT_RULE,
  STRATEGIES,
} from "../model/catalog";

/** A blob's name: the sha256 of its content, lowercase hex. */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

const name = z.string().max(63).regex(NAME_PATTERN, NAME_RULE);

/** What a key may do: API calls apps; ADMIN also manages the platform. */
export const KeyScope = z.enum(["API", "ADMIN"]);

/** One file of a revision: its content's hash (uploaded before) and its mode. */
export const FileEntryBody = z.strictObject({ hash: z.string().regex(SHA256_PATTERN, "sha256 hex"), mode: z.number().int() });

export const RuntimeScalingBody = z.strictObject({
  keep_alive: z.number().int().min(0),
  min_concurrency: z.number().int().min(0),
  max_concurrency: z.number().int().min(0),
  concurrency_buffer: z.number().int().min(0),
  concurrency_buffer_perc: z.number().int().min(0).max(100),
  scaling_delay: z.number().int().min(0),
  request_timeout: z.number().int().min(1),
  regions: z.array(z.string()),
});

const requirements = z.array(z.string().min(1).max(1000)).max(1000).default([]);
const pythonVersion = z.string().regex(PYTHON_VERSION_PATTERN, "a Python version such as 3.11").nullable().default(null);

export const CodeSettingsBody = z.strictObject({
  max_multiplexing: z.number().int().min(1),
  startup_timeout: z.number().int().min(1),
  machine_types: z.array(z.enum(MACHINE_TYPE_NAMES as [string, ...string[]])).min(1),
  num_gpus: z.number().int().min(0),
  requirements,
  python_version: pythonVersion,
});

export const CreateEnvironmentBody = z.strictObject({ name });

export const CreateRevisionBody = z.strictObject({
  source_object: z.string().regex(SOURCE_OBJECT_PATTERN, SOURCE_OBJECT_RULE),
  files: z.record(z.string().min(1), FileEntryBody),
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
