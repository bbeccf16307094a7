/** Request bodies of the platform API, validated at the edge with zod. */
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

const name = z.string().max(63).regex(NAME_PATTERN, NAME_RULE);

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

export const CodeSettingsBody = z.strictObject({
  max_multiplexing: z.number().int().min(1),
  startup_timeout: z.number().int().min(1),
  machine_types: z.array(z.enum(MACHINE_TYPE_NAMES as [string, ...string[]])).min(1),
  num_gpus: z.number().int().min(0),
  requirements: z.array(z.string().min(1).max(1000)).max(1000).default([]),
  python_version: z.string().regex(PYTHON_VERSION_PATTERN, "a Python version such as 3.11").nullable().default(null),
});

export const CreateEnvironmentBody = z.strictObject({ name });

export const CreateRevisionBody = z.strictObject({
  source_object: z.string().regex(SOURCE_OBJECT_PATTERN, SOURCE_OBJECT_RULE),
  files: z.record(
    z.string().min(1),
    z.strictObject({ hash: z.string().regex(/^[0-9a-f]{64}$/, "sha256 hex"), mode: z.number().int() }),
  ),
  code_settings: CodeSettingsBody,
  scaling: RuntimeScalingBody,
  auth_mode: z.enum(AUTH_MODES),
  message: z.string().max(2000).default(""),
  annotations: z.record(z.string(), z.string()).default({}),
  /** Build the revision's environment from scratch, not from the build cache. */
  no_cache: z.boolean().default(false),
});

/** What the deploy check asks: would these requirements build, or hit the cache? */
export const PlanBuildBody = z.strictObject({
  requirements: z.array(z.string().min(1).max(1000)).max(1000).default([]),
  python_version: z.string().regex(PYTHON_VERSION_PATTERN, "a Python version such as 3.11").nullable().default(null),
});

export const BuildLogQuery = z.object({ offset: z.coerce.number().int().min(0).default(0) });

export const UpdateAppBody = z.strictObject({
  revision_id: z.string().optional(),
  strategy: z.enum(STRATEGIES).optional(),
  auth_mode: z.enum(AUTH_MODES).optional(),
  scaling: RuntimeScalingBody.partial().optional(),
});

export const MissingBlobsBody = z.strictObject({ hashes: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(10000) });

export const CreateKeyBody = z.strictObject({
  scope: z.enum(["API", "ADMIN"]).default("API"),
  alias: z.string().max(200).default(""),
});

export const SetSecretBody = z.strictObject({ value: z.string().max(65536) });
export const SecretName = z.string().max(256).regex(SECRET_NAME_PATTERN, SECRET_NAME_RULE);
export const RolloutBody = z.strictObject({ force: z.boolean().default(false) });

export const EnvQuery = z.object({ env: name.default("main") });

export { name as NameSchema };
