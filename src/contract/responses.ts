/**
 * Answer bodies of the platform API, as zod schemas so that both sides name
 * one declaration: the server's presenters (src/platform/api/present.ts) are
 * typed with `Sent<...>` of these, the client's types (src/client/types.ts)
 * are their `z.output`. A field added on one side without the other fails to
 * compile. The server does not parse its answers with them (a cost on every
 * call for no gain); tests may.
 *
 * Timestamps travel as ISO 8601 strings.
 */
import { z } from "zod";
import { AUTH_MODES } from "../model/catalog";
import { CodeSettingsBody, FileEntryBody, KeyScope, RuntimeScalingBody } from "./schemas";

const timestamp = z.string();

/** Lifecycle of a revision (docs/semantics.md). */
export const RevisionStatus = z.enum(["Building", "Deploying", "Deployed", "Failed", "Suspended"]);
/** Lifecycle of an environment build (docs/builds.md). */
export const BuildStatus = z.enum(["BUILDING", "READY", "FAILED"]);

export const HealthResponse = z.object({ status: z.string(), database: z.string() });

export const MeResponse = z.object({ owner: z.string(), key_id: z.string(), scope: KeyScope });

export const EnvironmentResponse = z.object({ name: z.string(), created_at: timestamp, apps: z.number() });
export const CreatedEnvironmentResponse = z.object({ name: z.string(), created: z.boolean() });

/** An app's alias in one environment: which revision it serves, how, for whom. */
export const AppResponse = z.object({
  id: z.string(),
  owner: z.string(),
  name: z.string(),
  environment: z.string(),
  alias: z.string(),
  endpoint_id: z.string(),
  revision: z.string().nullable(),
  auth_mode: z.enum(AUTH_MODES),
  scaling: RuntimeScalingBody,
  is_rolling: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const RevisionResponse = z.object({
  id: z.string(),
  app: z.string(),
  environment: z.string(),
  status: RevisionStatus,
  active: z.boolean(),
  created_at: timestamp,
  source_object: z.string(),
  code_hash: z.string(),
  machine_types: z.array(z.string()),
  code_settings: CodeSettingsBody,
  scaling: RuntimeScalingBody,
  files: z.record(z.string(), FileEntryBody),
  message: z.string(),
  annotations: z.record(z.string(), z.string()),
  error: z.string().nullable(),
  /** The build of the revision's Python environment. */
  build_id: z.string().nullable(),
  build_key: z.string().nullable(),
});

/** How a new revision's environment came about. */
export const RevisionBuildResponse = z.object({
  id: z.string(),
  key: z.string(),
  status: BuildStatus,
  /** hit: a ready environment was reused; joined: a running build of the key; miss: built now; disabled: noCache. */
  cache: z.enum(["hit", "miss", "joined", "disabled"]),
});

/** POST /v1/apps/{name}/revisions: `reused` when a revision with the same content existed. */
export const CreatedRevisionResponse = RevisionResponse.extend({ reused: z.boolean(), build: RevisionBuildResponse });

export const RunnerResponse = z.object({
  runner_id: z.string(),
  revision: z.string(),
  state: z.string(),
  machine_type: z.string(),
  in_flight_requests: z.number(),
  uptime: z.number(),
  pid: z.number().nullable(),
  host: z.string(),
  /** Region of the platform process that runs it (`--region`). */
  region: z.string(),
  error: z.string().nullable(),
  /** Why a PENDING runner waits, e.g. `waiting for 1 GPU of GPU-H100; 0 of 1 free`; null otherwise. */
  reason: z.string().nullable(),
});

export const RolloutResponse = z.object({ restarted: z.number(), force: z.boolean() });
export const UsageResponse = z.object({ caller: z.string(), calls: z.number(), last_at: timestamp });
export const SecretResponse = z.object({ name: z.string(), updated_at: timestamp });
export const MissingBlobsResponse = z.object({ missing: z.array(z.string()) });

export const ApiKeyResponse = z.object({ key_id: z.string(), scope: KeyScope, alias: z.string(), created_at: timestamp });
/** The one answer that carries a key's secret. */
export const CreatedKeyResponse = z.object({ key_id: z.string(), key_secret: z.string(), scope: KeyScope, alias: z.string() });

export const BuildResponse = z.object({
  id: z.string(),
  key: z.string(),
  status: BuildStatus,
  requirements: z.array(z.string()),
  python_version: z.string(),
  installer: z.string(),
  size_bytes: z.number().nullable(),
  no_cache: z.boolean(),
  error: z.string().nullable(),
  created_at: timestamp,
  finished_at: timestamp.nullable(),
});
/** A build with its log from `offset` (characters); `next_offset` continues it. */
export const BuildLogResponse = BuildResponse.extend({ log: z.string(), next_offset: z.number() });
/** A build of an app's revisions, with the revisions that use it. */
export const AppBuildResponse = BuildResponse.extend({ revisions: z.array(z.string()), log_lines: z.number() });

export const BuildPlanResponse = z.object({
  key: z.string(),
  status: z.enum(["ready", "building", "missing"]),
  build_id: z.string().nullable(),
  python_version: z.string(),
  installer: z.string(),
});

export const PlatformInfoResponse = z.object({
  version: z.string(),
  database: z.string(),
  /** How runners are isolated: `bwrap` or `none` (docs/operations.md#security). */
  sandbox: z.enum(["bwrap", "none"]),
  /** Region this process places runners in (`--region`). */
  region: z.string(),
  environments: z.object({ store: z.string(), count: z.number(), bytes: z.number() }),
});

/** Lifecycle of a queued request (docs/queue.md). */
export const QueuedRequestStatus = z.enum(["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]);

/** GET /v1/dashboard/apps/{name}/requests: one queued request, without its bodies. */
export const DashboardRequestResponse = z.object({
  id: z.string(),
  path: z.string(),
  status: QueuedRequestStatus,
  caller: z.string().nullable(),
  attempts: z.number(),
  retries: z.number(),
  runner_id: z.string().nullable(),
  result_status: z.number().nullable(),
  error: z.string().nullable(),
  error_type: z.string().nullable(),
  created_at: timestamp,
  started_at: timestamp.nullable(),
  completed_at: timestamp.nullable(),
  /** From submit to the start of the last attempt; null while waiting. */
  wait_ms: z.number().nullable(),
  /** From the start of the last attempt to completion; null until completed. */
  run_ms: z.number().nullable(),
  payload_size: z.number(),
  result_size: z.number(),
});

export const DashboardLogLine = z.object({ message: z.string(), level: z.string(), source: z.string(), timestamp });

/** GET /v1/dashboard/apps/{name}/requests/{id}/logs. */
export const DashboardRequestLogsResponse = z.object({
  id: z.string(),
  status: QueuedRequestStatus,
  runner_id: z.string().nullable(),
  logs: z.array(DashboardLogLine),
});

/** GET /v1/dashboard/apps/{name}/queue: the app's queue depth now. */
export const DashboardQueueResponse = z.object({ in_queue: z.number(), in_progress: z.number(), at: timestamp });

/** One sample of an app's history (src/platform/dashboard/metricsHistory.ts). */
export const DashboardHistorySample = z.object({
  at: timestamp,
  in_queue: z.number(),
  in_progress: z.number(),
  /** Requests completed since the previous sample. */
  completed: z.number(),
  /** p50 / p95 of their submit-to-completion time in ms; null when none completed. */
  latency_p50_ms: z.number().nullable(),
  latency_p95_ms: z.number().nullable(),
});

/** GET /v1/dashboard/apps/{name}/history: the last hour, sampled by the platform, oldest first. */
export const DashboardHistoryResponse = z.object({
  interval_s: z.number(),
  window_s: z.number(),
  samples: z.array(DashboardHistorySample),
});
