/**
 * Starts the whole platform in this process: database (PGlite or PostgreSQL),
 * migrations, the first admin key, recovery from a dead platform process of
 * this host, the runner backend, manager and autoscaler, the queue
 * dispatcher, and the HTTP server on 127.0.0.1 unless told otherwise.
 *
 * Wiring only: what each part does is in its own module.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { NAME_PATTERN, NAME_RULE } from "../model/catalog";
import { join, resolve } from "node:path";
import { openDb, redactUrl, type Db } from "./store/db";
import { migrate } from "./store/migrations";
import * as repo from "./store/repo";
import { generateKey, hashSecret } from "./keys";
import { EnvironmentBuilder } from "./builds/builder";
import { Autoscaler, LocalBackend, RunnerManager, type RunnerBackend } from "./runners";
// Cheap to import: the Kubernetes client itself loads only when the backend connects.
import { KubernetesBackend, startPodReconciler, type KubernetesBackendOptions } from "./runners/kubernetes";
import { PlatformService } from "./service";
import { buildServer } from "./api/server";
import { createLogger, type Logger, type LogLevel } from "./log";
import { Dispatcher } from "./queue/dispatcher";
import { WebhookDelivery } from "./queue/webhooks";
import { PlatformMetrics } from "./metrics";
import { lockDataDir } from "./store/dataDirLock";
import { selectSandbox, type SandboxMode } from "./runners/sandbox";
import { RunnerCgroups, type ResourceMode } from "./runners/cgroups";
import { WebhookPolicy } from "./queue/webhookTarget";
import * as qs from "./store/queueStore";
import * as runnerStore from "./store/runnerStore";
import { ResolveCache } from "./gateway/resolveCache";
import { UsageRecorder } from "./gateway/usage";
import { openPayloadStore } from "./store/payloadStore";
import { DEFAULT_LIMITS, type RequestLimits } from "./gateway/limits";
import { startRetention } from "./queue/retention";

export const PLATFORM_VERSION = "0.1.0";

export interface PlatformOptions {
  /** Where PGlite keeps its files and revisions are unpacked. Default `.falplane/data`. */
  readonly dataDir?: string;
  /** postgres://… to keep state in PostgreSQL instead of PGlite. Default: env DATABASE_URL. */
  readonly databaseUrl?: string;
  /** Address to bind. Default 127.0.0.1. */
  readonly host?: string;
  /** Port to bind; 0 picks a free one. Default 8787. */
  readonly port?: number;
  /** Owner of the first admin key (and of apps deployed with it). Default `local`. */
  readonly owner?: string;
  /** Use this `key_id:secret` as the first admin key instead of generating one. */
  readonly bootstrapKey?: string;
  /** Machine types the local backend offers. Default: CPU types, plus GPU types if nvidia-smi shows GPUs. */
  readonly machineTypes?: readonly string[];
  /** GPU indices to hand out through CUDA_VISIBLE_DEVICES. Default: what nvidia-smi lists. */
  readonly gpus?: readonly string[];
  /** Runner SIGTERM→SIGKILL grace. Default 5000 ms. */
  readonly runnerGraceMs?: number;
  /** Queue lease length (a dead holder's requests are retried after it). Default 15000 ms. */
  readonly queueLeaseMs?: number;
  /** First webhook retry delay (doubles per attempt; 10 attempts ≈ 2.1 h). Default 15000 ms. */
  readonly webhookBaseDelayMs?: number;
  /** Where apps' Python environments are built. Default `<dataDir>/envs`. */
  readonly envsDir?: string;
  /** Package index for environment builds (an air-gapped cluster's mirror). Default: env UV_INDEX_URL, else PIP_INDEX_URL, else PyPI. */
  readonly packageIndexUrl?: string;
  /** uv binary for builds. Default: FALPLANE_UV, the set-up's copy, `uv` on PATH; none: python -m venv + pip. */
  readonly uv?: string;
  /** An environment no retained revision uses is removed this long after it was built. Default 1 h. */
  readonly environmentGcGraceMs?: number;
  /** Largest request body the gateway accepts (413 above). Default 64 MiB. */
  readonly maxBodyBytes?: number;
  /** Bytes of stored request payloads + results an owner may hold until they expire (429 above). Default 10 GiB. */
  readonly ownerStorageQuotaBytes?: number;
  /** Requests an owner may have waiting in the queue (429 above). Default 10000. */
  readonly ownerQueueLimit?: number;
  /** Completed requests and their bodies are deleted this long after completion. Default 7 days. */
  readonly requestRetentionMs?: number;
  /** PEM files of a certificate and its key: serve HTTPS instead of HTTP. Default: HTTP. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** Proxies (addresses, CIDR ranges) whose X-Forwarded-* headers are believed. Default none. */
  readonly trustProxy?: readonly string[];
  /** Region this process places runners in; apps whose `regions` exclude it get no runners here. Default `local`. */
  readonly region?: string;
  /** How runners are isolated: `auto` (bubblewrap when it works here, else none, with a warning), `bwrap`, `none`. Default auto. */
  readonly sandbox?: SandboxMode;
  /** Machine-type CPU and memory limits through cgroups: `auto` (where this host lets the platform write them), `on` (start fails otherwise), `off`. Default auto. */
  readonly enforceResources?: ResourceMode;
  /** Parent of runners' working directories; outside the data directory. Default `<tmpdir>/falplane-runners`. */
  readonly runnersDir?: string;
  /** Names of this process's environment variables every runner also gets. Default none. */
  readonly runnerEnv?: readonly string[];
  /** Host directories every runner may read and write (a shared model cache). Default none. */
  readonly runnerSharedDirs?: readonly string[];
  /** Hosts, addresses and CIDR ranges webhooks may reach although they are not public. Default none. */
  readonly webhookAllow?: readonly string[];
  /** Where runners run: `local` (processes on this machine, the default) or `kubernetes` (Pods; docs/operations.md, "Running on Kubernetes"). */
  readonly backend?: "local" | "kubernetes";
  /** The Kubernetes backend's settings (kubeconfig, namespace, image, GPU-type label, ...); with backend `kubernetes`. */
  readonly kubernetes?: KubernetesBackendOptions;
  readonly logLevel?: LogLevel;
  readonly logger?: Logger;
}

export interface RunningPlatform {
  readonly url: string;
  readonly port: number;
  readonly db: Db;
  /** Set only when this start created the first admin key: `key_id:secret`. Shown once. */
  readonly createdAdminKey?: string;
  readonly owner: string;
  close(): Promise<void>;
}

export const PYTHON_SDK_PATH = resolve(__dirname, "../../sdk/python");

export async function startPlatform(opts: PlatformOptions = {}): Promise<RunningPlatform> {
  const log = opts.logger ?? createLogger(opts.logLevel);
  const dataDir = resolve(opts.dataDir ?? ".falplane/data");
  const databaseUrl = opts.databaseUrl ?? process.env.DATABASE_URL;
  const owner = opts.owner ?? "local";

  const tls = readTls(opts.tlsCert, opts.tlsKey);
  const region = opts.region ?? "local";
  if (!NAME_PATTERN.test(region)) throw new Error(`region ${JSON.stringify(region)} is not valid: use ${NAME_RULE}`);
  const webhookPolicy = new WebhookPolicy(opts.webhookAllow);
  const onKubernetes = opts.backend === "kubernetes";
  const sandbox = selectSandbox(opts.sandbox ?? "auto");
  // On Kubernetes no runner runs here (the kubelet isolates and limits Pods): no cgroups to prepare.
  const cgroups = RunnerCgroups.detect(onKubernetes ? "off" : (opts.enforceResources ?? "auto"), {
    onWarning: (message) => log.warn({ resources: "unenforced" }, message),
  });
  // The data directory holds PGlite's files, blobs and payloads: nobody but the platform reads it.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // PGlite is single-process: a second platform on the same files would lose acknowledged writes.
  const unlock = databaseUrl ? () => undefined : lockDataDir(dataDir);
  const db = await openDb({ databaseUrl, dataDir: join(dataDir, "pglite") }).catch((err) => {
    unlock();
    throw new Error(
      databaseUrl
        ? `cannot connect to PostgreSQL at ${redactUrl(databaseUrl)}: ${err instanceof Error ? err.message : err}`
        : `cannot open PGlite data directory ${join(dataDir, "pglite")}: ${err instanceof Error ? err.message : err}`,
    );
  });
  const applied = await migrate(db);
  if (applied.length) log.info({ migrations: applied, database: db.kind }, "database migrated");

  const createdAdminKey = await bootstrap(db, owner, opts.bootstrapKey);
  const hostId = `${hostname()}:${process.pid}`;
  await recoverFromDeadProcesses(db, log);

  let dispatcher: Dispatcher | undefined;
  const kube: KubernetesBackend | undefined =
    opts.backend === "kubernetes"
      ? await KubernetesBackend.connect({ graceMs: opts.runnerGraceMs, log, ...opts.kubernetes }).catch(async (err) => {
          await db.close();
          unlock();
          throw err;
        })
      : undefined;
  const backend: RunnerBackend = kube ?? new LocalBackend({
    pythonSdkPath: PYTHON_SDK_PATH,
    machineTypes: opts.machineTypes,
    gpus: opts.gpus,
    sandbox,
    runnersDir: opts.runnersDir,
    passEnv: opts.runnerEnv,
    sharedDirs: opts.runnerSharedDirs,
    cgroups,
    onOutput: (runnerId, stream, line) => {
      log.info({ runner_id: runnerId, stream, line }, "runner output");
      dispatcher?.onRunnerOutput(runnerId, stream, line);
    },
  });
  const metrics = new PlatformMetrics();
  const builder = new EnvironmentBuilder({
    db,
    envsDir: opts.envsDir ?? join(dataDir, "envs"),
    owner: hostId,
    log,
    uv: opts.uv,
    indexUrl: opts.packageIndexUrl,
  });
  const stopCollector = builder.startGarbageCollector(opts.environmentGcGraceMs ?? 3_600_000);
  // Big queued bodies and results live outside the queue rows (files next to PGlite, a table on PostgreSQL).
  const payloads = openPayloadStore(db, dataDir);
  const limits: RequestLimits = {
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    ownerStorageQuotaBytes: opts.ownerStorageQuotaBytes ?? DEFAULT_LIMITS.ownerStorageQuotaBytes,
    ownerQueueLimit: opts.ownerQueueLimit ?? DEFAULT_LIMITS.ownerQueueLimit,
    requestRetentionMs: opts.requestRetentionMs ?? DEFAULT_LIMITS.requestRetentionMs,
  };
  const runners = new RunnerManager({ db, backend, dataDir, hostId, region, log, graceMs: opts.runnerGraceMs, environments: builder });
  // Runner Pods an earlier platform process left: adopted (before the autoscaler starts any) or deleted.
  const stopReconciler = kube ? await startPodReconciler({ db, runners, backend: kube, hostId, log }) : undefined;
  const autoscaler = new Autoscaler({ db, runners, log });
  const webhooks = new WebhookDelivery({ db, policy: webhookPolicy, payloads, log, metrics, baseDelayMs: opts.webhookBaseDelayMs });
  dispatcher = new Dispatcher({ db, runners, autoscaler, webhooks, payloads, log, metrics, owner: hostId, leaseMs: opts.queueLeaseMs });
  const cache = new ResolveCache(db);
  const service = new PlatformService(db, runners, backend, builder, log, () => cache.invalidate());
  const usage = new UsageRecorder(db, log);
  const server = buildServer({ db, payloads, limits, service, runners, log, version: PLATFORM_VERSION, webhookPolicy, sandbox: sandbox.kind, region, tls, trustProxy: opts.trustProxy, dispatcher, metrics, cache, usage, builder });

  // If this process dies, its runners must not outlive it.
  const killRunners = () => runners.killAll();
  process.on("exit", killRunners);

  await server.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 8787 });
  const addr = server.server.address();
  const port = typeof addr === "object" && addr ? addr.port : (opts.port ?? 8787);
  const url = `${tls ? "https" : "http"}://${opts.host ?? "127.0.0.1"}:${port}`;
  dispatcher.start();
  autoscaler.start();
  const stopRetention = startRetention({ db, payloads, retentionMs: limits.requestRetentionMs, log });
  // The sandbox and cgroup limits are the local backend's: on Kubernetes their absence says nothing about the runners.
  if (sandbox.kind === "none" && !onKubernetes) {
    log.warn(
      { sandbox: "none" },
      opts.sandbox === "none"
        ? "runners are not sandboxed (--sandbox none): a runner can read what this process's user can read"
        : "runners are not sandboxed: bubblewrap (bwrap) is missing or cannot create namespaces here; install Debian's bubblewrap package",
    );
  }
  if (!cgroups.enforced && opts.enforceResources !== "off" && !onKubernetes) {
    log.warn({ resources: "off" }, `machine-type CPU and memory limits are not enforced: ${cgroups.reason}`);
  }
  log.info(
    {
      url,
      database: db.kind,
      data_dir: dataDir,
      machine_types: backend.machineTypes,
      region,
      ...(onKubernetes
        ? { backend: backend.name }
        : { sandbox: sandbox.kind, resources: cgroups.enforced ? `cgroup ${cgroups.version}` : `off (${cgroups.reason})` }),
    },
    "platform listening",
  );

  let closed = false;
  return {
    url,
    port,
    db,
    owner,
    createdAdminKey,
    async close() {
      if (closed) return;
      closed = true;
      // Nothing starts runners from here on; then the queue lets go of its work.
      await autoscaler.stop();
      await dispatcher!.stop();
      await server.close();
      await usage.close();
      // On Kubernetes the runner Pods stay for the next platform process to adopt.
      await stopReconciler?.();
      kube?.detach();
      await runners.close();
      await kube?.close();
      await cgroups.releaseAll();
      stopCollector();
      await stopRetention();
      // A build this process runs finishes (or fails) before the database goes.
      await builder.settle();
      process.off("exit", killRunners);
      await db.close();
      unlock();
    },
  };
}

/**
 * A platform process of this host that died (SIGKILL, power loss) leaves
 * runners and leased requests behind: kill the runners' process groups and
 * put the requests back in the queue at once instead of waiting for their
 * leases to expire.
 */
async function recoverFromDeadProcesses(db: Db, log: Logger): Promise<void> {
  const host = hostname();
  const alive = (owner: string) => {
    const pid = Number(owner.slice(owner.lastIndexOf(":") + 1));
    if (!Number.isInteger(pid) || pid === process.pid) return pid === process.pid;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const orphans = await runnerStore.unstoppedRunnersOnHost(db, host);
  for (const r of orphans) {
    if (alive(r.host)) continue;
    if (r.pid) {
      try {
        process.kill(-r.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await repo.upsertRunnerState(db, r.id, "TERMINATED", "its platform process died");
  }
  const deadOwners = (await qs.leaseOwnersOnHost(db, host)).filter((o) => !alive(o));
  const requeued = await qs.requeueOwners(db, deadOwners);
  if (orphans.length || requeued) log.warn({ runners: orphans.length, requests: requeued }, "recovered from a platform process that died");
}

/** Creates `main` and, on a database with no keys, the first admin key. */
async function bootstrap(db: Db, owner: string, bootstrapKey?: string): Promise<string | undefined> {
  await repo.ensureEnvironment(db, owner, "main");
  return db.transaction(async (tx) => {
    await repo.lockKeyBootstrap(tx);
    if ((await repo.countKeys(tx)) > 0) return undefined;
    let keyId: string;
    let secret: string;
    let secretHash: string;
    if (bootstrapKey) {
      const i = bootstrapKey.indexOf(":");
      if (i <= 0) throw new Error("the bootstrap key must look like key_id:secret");
      keyId = bootstrapKey.slice(0, i);
      secret = bootstrapKey.slice(i + 1);
      secretHash = hashSecret(secret);
    } else {
      ({ keyId, secret, secretHash } = generateKey());
    }
    await repo.insertKey(tx, { keyId, secretHash, scope: "ADMIN", owner, alias: "bootstrap admin" });
    return `${keyId}:${secret}`;
  });
}

/** The certificate and key for HTTPS, read now so a wrong path stops the start with the file's name. */
function readTls(certFile?: string, keyFile?: string): { key: Buffer; cert: Buffer } | undefined {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error("HTTPS needs both --tls-cert and --tls-key");
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read(certFile, "certificate"), key: read(keyFile, "key") };
}
