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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function collectList(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(",").map((v) => v.trim()).filter(Boolean)];
}
