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
  status: "Deploying" | "Deployed" | "Failed" | "Suspended";
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
}

export interface UpdateAppRequest {
  revision_id?: string;
  strategy?: StrategyName;
  auth_mode?: AuthMode;
  scaling?: Partial<RuntimeScaling>;
}
