/**
 * Wire types of the platform API as the client sees them, derived from the
 * contract (src/contract): answers are the `z.output` of the answer schemas,
 * requests the `z.input` of the schemas the server validates with. Type-only
 * imports: the client runs inside Pulumi dynamic providers, which carry
 * nothing but Node built-ins (see client.ts).
 */
import type { z } from "zod";
import type * as C from "../contract";

export type { FileEntry } from "../model/catalog";

export type KeyScope = z.output<typeof C.KeyScope>;
export type Health = z.output<typeof C.HealthResponse>;
export type Me = z.output<typeof C.MeResponse>;
export type Environment = z.output<typeof C.EnvironmentResponse>;
export type CreatedEnvironment = z.output<typeof C.CreatedEnvironmentResponse>;
export type App = z.output<typeof C.AppResponse>;
export type Revision = z.output<typeof C.RevisionResponse>;
export type RevisionBuild = z.output<typeof C.RevisionBuildResponse>;
export type CreatedRevision = z.output<typeof C.CreatedRevisionResponse>;
export type Runner = z.output<typeof C.RunnerResponse>;
export type Rollout = z.output<typeof C.RolloutResponse>;
export type Usage = z.output<typeof C.UsageResponse>;
export type SecretInfo = z.output<typeof C.SecretResponse>;
export type MissingBlobs = z.output<typeof C.MissingBlobsResponse>;
export type ApiKey = z.output<typeof C.ApiKeyResponse>;
export type CreatedKey = z.output<typeof C.CreatedKeyResponse>;
export type BuildStatus = z.output<typeof C.BuildStatus>;
export type Build = z.output<typeof C.BuildResponse>;
export type BuildLog = z.output<typeof C.BuildLogResponse>;
export type AppBuild = z.output<typeof C.AppBuildResponse>;
export type BuildPlan = z.output<typeof C.BuildPlanResponse>;
export type PlatformInfo = z.output<typeof C.PlatformInfoResponse>;

export type CreateRevisionRequest = C.Sendable<typeof C.CreateRevisionBody>;
export type UpdateAppRequest = C.Sendable<typeof C.UpdateAppBody>;
