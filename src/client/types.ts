/** Wire types of the platform API (see /openapi.json). */
import type { AuthMode, CodeSettings, RuntimeScaling, StrategyName } from "../model/catalog";

export interface App {
  id: string;
  owner: string;
  name: string;
  environment: string;
  alias: string;
  endpoint_id: string;
  revision: string | null;
  auth_mode: AuthMode;
  scaling: RuntimeScaling;
  is_rolling: boolean;
  created_at: string;
  updated_at: string;
}

export interface FileEntry {
  hash: string;
  mode: number;
}

export interface Revision {
  id: string;
  app: string;
  environment: string;
  status: "Building" | "Deploying" | "Deployed" | "Failed" | "Suspended";
  active: boolean;
  created_at: string;
  source_object: string;
  code_hash: string;
  machine_types: string[];
  code_settings: CodeSettings;
  scaling: RuntimeScaling;
  files: Record<string, FileEntry>;
  message: string;
  annotations: Record<string, string>;
  error: string | null;
  /** The build of the revision's Python environment. */
  build_id: string | null;
  build_key: string | null;
}

/** How a new revision's environment came about. */
export interface RevisionBuild {
  id: string;
  key: string;
  status: BuildStatus;
  /** hit: a ready environment was reused; joined: a running build of the key; miss: built now; disabled: noCache. */
  cache: "hit" | "miss" | "joined" | "disabled";
}

export type BuildStatus = "BUILDING" | "READY" | "FAILED";

export interface Build {
  id: string;
  key: string;
  status: BuildStatus;
  requirements: string[];
  python_version: string;
  installer: string;
  size_bytes: number | null;
  no_cache: boolean;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface BuildPlan {
  key: string;
  status: "ready" | "building" | "missing";
  build_id: string | null;
  python_version: string;
  installer: string;
}

export interface PlatformInfo {
  version: string;
  database: string;
  environments: { store: string; count: number; bytes: number };
}

export interface Runner {
  runner_id: string;
  revision: string;
  state: string;
  machine_type: string;
  in_flight_requests: number;
  uptime: number;
  pid: number | null;
  host: string;
  error: string | null;
}

export interface Environment {
  name: string;
  created_at: string;
  apps: number;
}

export interface ApiKey {
  key_id: string;
  scope: "API" | "ADMIN";
  alias: string;
  created_at: string;
}

export interface CreateRevisionRequest {
  source_object: string;
  files: Record<string, FileEntry>;
  code_settings: CodeSettings;
  scaling: RuntimeScaling;
  auth_mode: AuthMode;
  message?: string;
  annotations?: Record<string, string>;
  no_cache?: boolean;
}

export interface UpdateAppRequest {
  revision_id?: string;
  strategy?: StrategyName;
  auth_mode?: AuthMode;
  scaling?: Partial<RuntimeScaling>;
}
