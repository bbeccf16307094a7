/**
 * How the platform's objects look on the wire: snake_case, the fields
 * docs/semantics.md names, timestamps as ISO strings. Each presenter is typed
 * by the answer schema of the contract (src/contract/responses.ts) that the
 * client's types come from, so the two sides cannot disagree on a field.
 * Field order is the JSON's order: keep it.
 */
import type * as C from "../../contract";
import type { Sent } from "../../contract";
import type { AppRow, KeyRow, RevisionRow, RunnerRow } from "../store/repo";
import type { BuildRow } from "../store/buildStore";
import type { BuildPlan } from "../builds/builder";
import type { CreatedRevision, RevisionOfApp } from "../service";
import type { RunnerListing } from "../appStatus";
import type { ManagedRunner } from "../runners";
import { aliasName } from "../../model/catalog";

/** A timestamp as JSON would write it (the drivers hand back Dates). */
const iso = (t: Date | string): string => (t instanceof Date ? t.toISOString() : t);

export function presentEnvironment(e: { name: string; created_at: Date; apps: string }): Sent<typeof C.EnvironmentResponse> {
  return { name: e.name, created_at: iso(e.created_at), apps: Number(e.apps) };
}

export function presentApp(a: AppRow): Sent<typeof C.AppResponse> {
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
    created_at: iso(a.created_at),
    updated_at: iso(a.updated_at),
  };
}

export function presentRevision(r: RevisionRow, a: AppRow): Sent<typeof C.RevisionResponse> {
  return {
    id: r.id,
    app: a.name,
    environment: a.environment,
    status: r.status,
    active: a.current_revision === r.id,
    created_at: iso(r.created_at),
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

export function presentCreatedRevision({ revision, app }: RevisionOfApp<CreatedRevision>): Sent<typeof C.CreatedRevisionResponse> {
  return { ...presentRevision(revision, app), reused: Boolean(revision.reused), build: revision.build };
}

function presentRunner(row: RunnerRow, live?: ManagedRunner): Sent<typeof C.RunnerResponse> {
  return {
    runner_id: row.id,
    revision: row.revision_id,
    state: live?.state ?? row.state,
    machine_type: row.machine_type,
    in_flight_requests: live?.inFlight ?? 0,
    uptime: Math.round((Date.now() - new Date(row.started_at).getTime()) / 1000),
    pid: row.pid,
    host: row.host,
    region: row.region,
    error: row.error,
    reason: (live?.state ?? row.state) === "PENDING" ? (live?.reason ?? row.reason) : null,
  };
}

/** The runners, then a CRASH_BACKOFF row for a revision waiting out a backoff (it has no runner of its own). */
export function presentRunners(l: RunnerListing): Sent<typeof C.RunnerResponse>[] {
  const rows = l.runners.map((r) => presentRunner(r.row, r.live));
  if (l.backoff) {
    rows.push({
      runner_id: "",
      revision: l.backoff.revision,
      state: "CRASH_BACKOFF",
      machine_type: "",
      in_flight_requests: 0,
      uptime: 0,
      pid: null,
      host: "",
      region: "",
      error: l.backoff.reason,
      reason: null,
    });
  }
  return rows;
}

export function presentUsage(u: { caller: string; calls: string; last_at: Date }): Sent<typeof C.UsageResponse> {
  return { caller: u.caller, calls: Number(u.calls), last_at: iso(u.last_at) };
}

export function presentSecret(s: { name: string; updated_at: Date }): Sent<typeof C.SecretResponse> {
  return { name: s.name, updated_at: iso(s.updated_at) };
}

export function presentKey(k: KeyRow): Sent<typeof C.ApiKeyResponse> {
  return { key_id: k.key_id, scope: k.scope, alias: k.alias, created_at: iso(k.created_at) };
}

export function presentBuild(b: BuildRow): Sent<typeof C.BuildResponse> {
  return {
    id: b.id,
    key: b.build_key,
    status: b.status,
    requirements: b.requirements,
    python_version: b.python_version,
    installer: b.installer,
    size_bytes: b.size_bytes,
    no_cache: b.no_cache,
    error: b.error,
    created_at: iso(b.created_at),
    finished_at: b.finished_at && iso(b.finished_at),
  };
}

export function presentBuildPlan(plan: BuildPlan): Sent<typeof C.BuildPlanResponse> {
  return {
    key: plan.key,
    status: plan.ready ? "ready" : plan.building ? "building" : "missing",
    build_id: plan.ready?.id ?? plan.building?.id ?? null,
    python_version: plan.python.version,
    installer: plan.installer,
  };
}
