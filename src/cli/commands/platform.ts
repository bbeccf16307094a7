/** `falctl platform`: run the embedded platform, and say what it runs on. */
import { Option, type Command } from "commander";
import { SANDBOX_MODES } from "../../platform/runners/sandbox";
import { RESOURCE_MODES } from "../../platform/runners/cgroups";
import { printJson, printTable } from "../output";
import { jsonOption, toInt, type Cli } from "../context";
import { parseDuration, parseSize } from "../units";

export function registerPlatform(program: Command, cli: Cli): void {
  const platform = program.command("platform").description("run the platform");
  platform
    .command("start")
    .description("start the embedded platform in the foreground (PGlite, or PostgreSQL with DATABASE_URL)")
    .option("--data-dir <dir>", "data directory", process.env.FALPLANE_DATA_DIR ?? ".falplane/data")
    .option("--host <host>", "address to bind", process.env.FALPLANE_HOST ?? "127.0.0.1")
    .option("--port <port>", "port to bind (0 = any free port)", process.env.FALPLANE_PORT ?? "8787")
    .option("--owner <owner>", "owner of the first admin key", process.env.FALPLANE_OWNER ?? "local")
    .option("--machine-types <list>", "comma-separated machine types this machine hosts")
    .option("--gpus <list>", "comma-separated GPU indices to hand out (default: what nvidia-smi lists)", process.env.FALPLANE_GPUS)
    .option("--package-index-url <url>", "package index for apps' environment builds (default: UV_INDEX_URL, PIP_INDEX_URL, else PyPI)")
    .option("--envs-dir <dir>", "where apps' Python environments are built (default: <data-dir>/envs)")
    .option("--uv <path>", "uv binary for environment builds (default: FALPLANE_UV, the set-up's copy, uv on PATH)")
    .option("--environment-gc-grace <s>", "seconds before an environment no revision uses is removed", toInt, 3600)
    .option("--max-body-size <size>", "largest request body the gateway accepts, e.g. 10mb (default: 64mb)", parseSize)
    .option("--owner-storage-quota <size>", "bytes of stored request payloads + results per owner, e.g. 10gb (default: 10gb)", parseSize)
    .option("--owner-queue-limit <n>", "requests an owner may have waiting (default: 10000)", toInt)
    .option("--retention <duration>", "keep completed requests and their results this long, e.g. 7d, 12h (default: 7d)", parseDuration)
    .addOption(new Option("--sandbox <mode>", "how runners are isolated: auto (bubblewrap when it works), bwrap, none").choices(SANDBOX_MODES).default("auto"))
    .addOption(
      new Option("--enforce-resources <mode>", "machine-type CPU and memory limits through cgroups: auto (where writable), on (start fails otherwise), off")
        .choices(RESOURCE_MODES)
        .default("auto"),
    )
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS (with --tls-key)", process.env.FALPLANE_TLS_CERT)
    .option("--tls-key <file>", "PEM private key of --tls-cert", process.env.FALPLANE_TLS_KEY)
    .option("--trust-proxy <list>", "comma-separated addresses or CIDR ranges of proxies whose X-Forwarded-* headers are believed (repeatable)", collectList, [])
    .option("--region <name>", "region this process places runners in; apps whose regions exclude it get no runners here", process.env.FALPLANE_REGION ?? "local")
    .option("--runners-dir <dir>", "parent of runners' working directories, outside the data directory (default: <tmpdir>/falplane-runners)")
    .option("--runner-env <names>", "comma-separated names of this process's environment variables every runner also gets (repeatable)", collectList, [])
    .option("--runner-shared-dir <dir>", "host directory every runner may read and write, e.g. a model cache (repeatable)", collect, [])
    .option("--webhook-allow <entries>", "comma-separated hosts, addresses or CIDR ranges webhooks may reach although not public (repeatable)", collectList, [])
    .addOption(new Option("--backend <backend>", "where runners run: local (processes on this machine) or kubernetes (Pods)").choices(["local", "kubernetes"]).default(process.env.FALPLANE_BACKEND ?? "local"))
    .option("--kubeconfig <file>", "kubeconfig of the cluster (default: in-cluster config in a Pod, else KUBECONFIG or ~/.kube/config)")
    .option("--kube-context <name>", "kubeconfig context (default: its current context)")
    .option("--kube-namespace <ns>", "namespace of the runner Pods (default: the platform Pod's own, the context's, else default)", process.env.FALPLANE_KUBE_NAMESPACE)
    .addOption(new Option("--runner-namespace <ns>", "same as --kube-namespace").hideHelp())
    .option("--kube-image <image>", "runner image for revisions without an image (Python + the falplane package; default falplane-runner:latest)", process.env.FALPLANE_KUBE_IMAGE)
    .option("--kube-gpu-label <label>", "node label naming a node's GPU type (default falplane.dev/machine-type)")
    .option("--kube-gpu-values <list>", "comma-separated machine type=label value pairs, e.g. GPU-H100=NVIDIA-H100-80GB-HBM3 (default: the machine type's name)")
    .option("--kube-instance <name>", "name of this platform installation: label of its Pods, anchor ConfigMap <name>-runners (default falplane)")
    .addOption(new Option("--kube-address <mode>", "how the gateway reaches a runner Pod: its Pod IP or a Service per runner").choices(["pod-ip", "service"]).default("pod-ip"))
    .action(async (o) => {
      // Loaded only here: every other command is a thin API client and starts fast.
      const { startPlatform } = require("../../platform/startPlatform") as typeof import("../../platform/startPlatform");
      const p = await startPlatform({
        dataDir: o.dataDir,
        host: o.host,
        port: Number(o.port),
        owner: o.owner,
        bootstrapKey: process.env.FALPLANE_BOOTSTRAP_KEY,
        machineTypes: o.machineTypes ? String(o.machineTypes).split(",") : undefined,
        gpus: o.gpus !== undefined ? String(o.gpus).split(",").filter(Boolean) : undefined,
        packageIndexUrl: o.packageIndexUrl,
        envsDir: o.envsDir,
        uv: o.uv,
        environmentGcGraceMs: o.environmentGcGrace * 1000,
        maxBodyBytes: o.maxBodySize,
        ownerStorageQuotaBytes: o.ownerStorageQuota,
        ownerQueueLimit: o.ownerQueueLimit,
        requestRetentionMs: o.retention,
        sandbox: o.sandbox,
        region: o.region,
        tlsCert: o.tlsCert,
        tlsKey: o.tlsKey,
        trustProxy: o.trustProxy,
        enforceResources: o.enforceResources,
        runnersDir: o.runnersDir,
        runnerEnv: o.runnerEnv,
        runnerSharedDirs: o.runnerSharedDir,
        webhookAllow: o.webhookAllow,
        backend: o.backend,
        kubernetes:
          o.backend === "kubernetes"
            ? {
                kubeconfig: o.kubeconfig,
                context: o.kubeContext,
                namespace: o.kubeNamespace ?? o.runnerNamespace,
                image: o.kubeImage,
                gpuTypeLabel: o.kubeGpuLabel,
                gpuTypeValues: o.kubeGpuValues ? parsePairs(String(o.kubeGpuValues)) : undefined,
                platform: o.kubeInstance,
                address: o.kubeAddress,
              }
            : undefined,
      });
      process.stdout.write(`falplane platform listening on ${p.url} (database: ${p.db.kind})\n`);
      if (p.createdAdminKey) {
        process.stdout.write(
          `First start: created an ADMIN key for owner '${p.owner}'. It is shown only this once (stored hashed):\n` +
            `  FAL_KEY=${p.createdAdminKey}\n`,
        );
      }
      const stop = async (sig: string) => {
        process.stdout.write(`received ${sig}, stopping runners and the platform\n`);
        await p.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop("SIGINT"));
      process.once("SIGTERM", () => void stop("SIGTERM"));
    });

  platform
    .command("info")
    .description("what the platform runs on and the disk its apps' environments take")
    .addOption(jsonOption())
    .action(async (o) => {
      const info = await cli.client().platformInfo();
      if (o.json) return printJson(info);
      printTable(
        ["Version", "Database", "Region", "Sandbox", "Environments", "Disk (MB)", "Store"],
        [[info.version, info.database, info.region, info.sandbox, info.environments.count, (info.environments.bytes / 1e6).toFixed(1), info.environments.store]],
      );
    });
}

/** `a=b,c=d` → {a: "b", c: "d"}. */
function parsePairs(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of list.split(",").map((p) => p.trim()).filter(Boolean)) {
    const i = pair.indexOf("=");
    if (i <= 0) throw new Error(`expected machine-type=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function collectList(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(",").map((v) => v.trim()).filter(Boolean)];
}
