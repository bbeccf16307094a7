/** How objects look on the wire (snake_case, the fields semantics.md names). */
import type { AppRow, RevisionRow, RunnerRow } from "../store/repo";
import type { ManagedRunner } from "../runners";
import { aliasName } from "../../model/catalog";

export function presentApp(a: AppRow) {
  return {
    id: a.id,
    owner: a.owner,
    name: a.name,
    environment: a.environment,
    alias: aliasName(a.name, a.environment),
    endpoint_id: `${a.owner}/${aliasName(a.name, a.environment)}`,
    revision: a.current_revision,
    auth_mode: a.auth_mode,
    scaling: a.scaling,
    is_rolling: a.is_rolling,
    created_at: a.created_at,
    updated_at: a.updated_at,
  };
}

export function presentRevision(r: RevisionRow, a: AppRow) {
  return {
    id: r.id,
    app: a.name,
    environment: a.environment,
    status: r.status,
    active: a.current_revision === r.id,
    created_at: r.created_at,
    source_object: r.source_object,
    code_hash: r.code_hash,
    machine_types: r.code_settings.machine_types,
    code_settings: r.code_settings,
    scaling: r.scaling,
    files: r.files,
    message: r.message,
    annotations: r.annotations,
    error: r.error,
    build_id: r.build_id,
    build_key: r.build_key,
  };
}

export function presentRunner(row: RunnerRow, live?: ManagedRunner) {
  return {
    runner_id: row.id,
    revision: row.revision_id,
    state: live?.state ?? row.state,
    machine_type: row.machine_type,
    in_flight_requests: live?.inFlight ?? 0,
    uptime: Math.round((Date.now() - new Date(row.started_at).getTime()) / 1000),
    pid: row.pid,
    host: row.host,
    error: row.error,
  };
}
