/**
 * falctl: the platform's command line, mirroring the fal CLI over the platform API.
 *
 * Exit codes: 0 success; 1 the platform refused or failed the operation;
 * 2 bad usage or input; 3 the platform could not be reached.
 */
import { Command, Option } from "commander";
import { ApiError, PlatformClient } from "../client/client";
import { printJson, printTable } from "./output";
import { aliasName, kebabCase } from "../model/catalog";
import { deployDirectory } from "../client/deployDir";
import { basename, dirname, resolve as resolvePath } from "node:path";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const program = new Command("falctl")
  .description("Manage a falplane runner platform")
  .addOption(new Option("--url <url>", "platform URL").env("FALPLANE_URL").default("http://127.0.0.1:8787"))
  .addOption(new Option("--key <key_id:secret>", "API key").env("FAL_KEY"))
  .showHelpAfterError()
  .exitOverride();

function client(): PlatformClient {
  const o = program.opts<{ url: string; key?: string }>();
  return new PlatformClient({ url: o.url, key: o.key });
}

const envOption = () => new Option("--env <env>", "environment").default("main");
const jsonOption = () => new Option("--json", "print JSON for scripts");

// ---- platform
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
  .action(async (o) => {
    const { startPlatform } = require("../platform/startPlatform") as typeof import("../platform/startPlatform");
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
    const info = await client().platformInfo();
    if (o.json) return printJson(info);
    printTable(
      ["Version", "Database", "Environments", "Disk (MB)", "Store"],
      [[info.version, info.database, info.environments.count, (info.environments.bytes / 1e6).toFixed(1), info.environments.store]],
    );
  });

// ---- apps
const apps = program.command("apps").description("apps, revisions and runners");
apps
  .command("list")
  .addOption(new Option("--env <env>", "only this environment"))
  .addOption(jsonOption())
  .action(async (o) => {
    const list = await client().listApps(o.env);
    if (o.json) return printJson(list);
    printTable(
      ["App", "Env", "Alias", "Revision", "Auth", "Min", "Max", "Keep alive", "Rolling"],
      list.map((a) => [a.name, a.environment, a.alias, a.revision, a.auth_mode, a.scaling.min_concurrency, a.scaling.max_concurrency, a.scaling.keep_alive, a.is_rolling ? "yes" : ""]),
    );
  });
apps
  .command("list-rev <app>")
  .description("list an app's revisions, newest first")
  .addOption(envOption())
  .addOption(jsonOption())
  .action(async (app, o) => {
    const revs = await client().listRevisions(app, o.env);
    if (o.json) return printJson(revs);
    printTable(
      ["Revision", "Status", "Active", "Created", "Source", "Machine types", "Message"],
      revs.map((r) => [r.id, r.status, r.active ? "*" : "", r.created_at, r.source_object, r.machine_types.join(","), r.message]),
    );
  });
apps
  .command("set-rev <app> <revision>")
  .description("point the app's alias at a revision (rollback)")
  .addOption(envOption())
  .addOption(new Option("--strategy <strategy>", "how to switch").choices(["rolling", "recreate"]).default("rolling"))
  .addOption(jsonOption())
  .action(async (app, revision, o) => {
    const a = await client().updateApp(app, o.env, { revision_id: revision, strategy: o.strategy });
    if (o.json) return printJson(a);
    process.stdout.write(`${aliasName(a.name, a.environment)} now serves revision ${a.revision}\n`);
  });
apps
  .command("scale <app>")
  .description("change runtime-tunable scaling values without a deploy")
  .addOption(envOption())
  .option("--keep-alive <s>", "seconds an idle runner stays", toInt)
  .option("--min-concurrency <n>", "runners kept warm", toInt)
  .option("--max-concurrency <n>", "most runners", toInt)
  .option("--concurrency-buffer <n>", "extra runners ahead of demand", toInt)
  .option("--concurrency-buffer-perc <p>", "extra runners as % of demand", toInt)
  .option("--scaling-delay <s>", "seconds a request waits before a scale-up", toInt)
  .option("--request-timeout <s>", "seconds a request may run", toInt)
  .addOption(jsonOption())
  .action(async (app, o) => {
    const scaling = Object.fromEntries(
      (
        [
          ["keep_alive", o.keepAlive],
          ["min_concurrency", o.minConcurrency],
          ["max_concurrency", o.maxConcurrency],
          ["concurrency_buffer", o.concurrencyBuffer],
          ["concurrency_buffer_perc", o.concurrencyBufferPerc],
          ["scaling_delay", o.scalingDelay],
          ["request_timeout", o.requestTimeout],
        ] as const
      ).filter(([, v]) => v !== undefined),
    );
    if (Object.keys(scaling).length === 0) throw new UsageError("give at least one value to change, e.g. --max-concurrency 4");
    const a = await client().updateApp(app, o.env, { scaling });
    if (o.json) return printJson(a);
    printTable(["Setting", "Value"], Object.entries(a.scaling).map(([k, v]) => [k, JSON.stringify(v)]));
  });
apps
  .command("builds <app>")
  .description("the app's environment builds, newest first; --log prints the newest build's log")
  .addOption(envOption())
  .option("--log", "print the log of the newest build")
  .addOption(jsonOption())
  .action(async (app, o) => {
    const c = client();
    const bs = await c.listBuilds(app, o.env);
    if (o.log) {
      if (!bs.length) throw new UsageError(`app '${app}' has no builds`);
      process.stdout.write((await c.getBuild(bs[0].id)).log);
      return;
    }
    if (o.json) return printJson(bs);
    printTable(
      ["Build", "Key", "Status", "Requirements", "Python", "Size (MB)", "Created", "Revisions"],
      bs.map((b) => [
        b.id,
        b.key.slice(0, 12),
        b.status,
        b.requirements.join(" ") || "(none)",
        b.python_version,
        b.size_bytes === null ? "" : (b.size_bytes / 1e6).toFixed(1),
        String(b.created_at),
        b.revisions.length,
      ]),
    );
  });
apps
  .command("runners <app>")
  .addOption(envOption())
  .addOption(jsonOption())
  .action(async (app, o) => {
    const rs = await client().listRunners(app, o.env);
    if (o.json) return printJson(rs);
    printTable(
      ["Runner", "Revision", "State", "Machine", "In flight", "Uptime (s)", "PID"],
      rs.map((r) => [r.runner_id, r.revision, r.state, r.machine_type, r.in_flight_requests, r.uptime, r.pid]),
    );
  });
apps
  .command("delete-rev <revision>")
  .description("delete an inactive revision")
  .action(async (rev) => {
    await client().deleteRevision(rev);
    process.stdout.write(`deleted revision ${rev}\n`);
  });
apps
  .command("delete <app>")
  .description("delete an app with its revisions and runners")
  .addOption(envOption())
  .action(async (app, o) => {
    await client().deleteApp(app, o.env);
    process.stdout.write(`deleted ${aliasName(app, o.env)}\n`);
  });

apps
  .command("rollout <app>")
  .description("restart every runner of the app without changing revision (after a secret change, for stuck runners)")
  .addOption(envOption())
  .option("--force", "kill runners now; in-flight requests fail (queued ones are retried)")
  .addOption(jsonOption())
  .action(async (app, o) => {
    const r = await client().rollout(app, o.env, Boolean(o.force));
    if (o.json) return printJson(r);
    process.stdout.write(`${o.force ? "killed" : "drained and stopped"} ${r.restarted} runner(s) of ${aliasName(app, o.env)}; the autoscaler starts replacements\n`);
  });
apps
  .command("usage <app>")
  .description("calls per caller key")
  .addOption(envOption())
  .addOption(jsonOption())
  .action(async (app, o) => {
    const u = await client().usage(app, o.env);
    if (o.json) return printJson(u);
    printTable(["Caller key", "Calls", "Last call"], u.map((x) => [x.caller, x.calls, x.last_at]));
  });

// ---- secrets
const secrets = program.command("secrets").description("secrets of an environment, given to runners as environment variables");
secrets
  .command("set <pairs...>")
  .description("set NAME=VALUE pairs (runners get them when they start: run `apps rollout` to apply)")
  .addOption(envOption())
  .action(async (pairs: string[], o) => {
    for (const pair of pairs) {
      const i = pair.indexOf("=");
      if (i <= 0) throw new UsageError(`expected NAME=VALUE, got '${pair.split("=")[0]}'`);
      await client().setSecret(pair.slice(0, i), pair.slice(i + 1), o.env);
      process.stdout.write(`set ${pair.slice(0, i)} in ${o.env}\n`);
    }
  });
secrets
  .command("list")
  .addOption(envOption())
  .addOption(jsonOption())
  .action(async (o) => {
    const ss = await client().listSecrets(o.env);
    if (o.json) return printJson(ss);
    printTable(["Secret", "Updated"], ss.map((x) => [x.name, x.updated_at]));
  });
secrets
  .command("unset <name>")
  .addOption(envOption())
  .action(async (name, o) => {
    await client().unsetSecret(name, o.env);
    process.stdout.write(`unset ${name} in ${o.env}\n`);
  });

// ---- ephemeral runs
program
  .command("run <source>")
  .description("deploy path/file.py::Class as a temporary public app; it is removed when this command exits (Ctrl-C included)")
  .option("--name <name>", "app name (default: the class name in kebab case plus a random suffix)")
  .addOption(envOption())
  .addOption(new Option("--auth <mode>", "auth mode").choices(["public", "private", "shared"]).default("public"))
  .action(async (source: string, o) => {
    const m = /^(.+\.py)::([A-Za-z_][A-Za-z0-9_]*)$/.exec(source);
    if (!m) throw new UsageError(`expected path/file.py::ClassName, got '${source}'`);
    const file = resolvePath(m[1]);
    if (!existsSync(file)) throw new UsageError(`no such file: ${m[1]}`);
    const name = o.name ?? `${kebabCase(m[2])}-${randomBytes(3).toString("hex")}`;
    const c = client();
    const me = await c.me();
    let removed = false;
    const remove = async () => {
      if (removed) return;
      removed = true;
      await c.deleteApp(name, o.env).catch((err) => {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      });
      process.stdout.write(`removed ${aliasName(name, o.env)}\n`);
    };
    const onSignal = (sig: string) => {
      process.stdout.write(`\n${sig}: removing the ephemeral app\n`);
      remove().then(
        () => process.exit(0),
        (err) => {
          process.stderr.write(`falctl: could not remove ${name}: ${err instanceof Error ? err.message : err}\n`);
          process.exit(EXIT.failed);
        },
      );
    };
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => onSignal(sig));
    process.stdout.write(`deploying ${source} as ${aliasName(name, o.env)} (${o.auth}); waiting for setup...\n`);
    try {
      await deployDirectory(c, {
        dir: dirname(file),
        sourceObject: `${basename(file)}::${m[2]}`,
        name,
        env: o.env,
        authMode: o.auth,
        message: "falctl run (ephemeral)",
        onBuildLine: (line) => process.stdout.write(`  build: ${line}\n`),
      });
    } catch (err) {
      await remove().catch(() => undefined);
      throw err;
    }
    const endpoint = `${me.owner}/${aliasName(name, o.env)}`;
    const base = program.opts<{ url: string }>().url.replace(/\/+$/, "");
    process.stdout.write(
      `ready: ${endpoint}\n  sync:  curl -X POST ${base}/run/${endpoint} -H 'content-type: application/json' -d '{}'\n` +
        `  queue: curl -X POST ${base}/queue/${endpoint} -H 'content-type: application/json' -d '{}'\n` +
        `Ctrl-C stops it and removes the app.\n`,
    );
    // Stay up until a signal arrives (a pending promise alone does not keep Node running).
    setInterval(() => undefined, 1 << 30);
    await new Promise(() => undefined);
  });

// ---- keys
const keys = program.command("keys").description("API keys");
keys
  .command("create")
  .addOption(new Option("--scope <scope>", "what the key may do").choices(["API", "ADMIN"]).default("API"))
  .option("--alias <alias>", "a name for the key", "")
  .addOption(jsonOption())
  .action(async (o) => {
    const k = await client().createKey(o.scope, o.alias);
    if (o.json) return printJson(k);
    process.stdout.write(`created ${k.scope} key ${k.key_id}; its secret is shown only now:\nFAL_KEY=${k.key_id}:${k.key_secret}\n`);
  });
keys
  .command("list")
  .addOption(jsonOption())
  .action(async (o) => {
    const ks = await client().listKeys();
    if (o.json) return printJson(ks);
    printTable(["Key id", "Scope", "Alias", "Created"], ks.map((k) => [k.key_id, k.scope, k.alias, k.created_at]));
  });
keys.command("revoke <key_id>").action(async (id) => {
  await client().revokeKey(id);
  process.stdout.write(`revoked ${id}\n`);
});

// ---- environments
const envs = program.command("environments").alias("envs").description("environments");
envs.command("create <name>").action(async (name) => {
  const r = await client().createEnvironment(name);
  process.stdout.write(r.created ? `created environment ${name}\n` : `environment ${name} already exists\n`);
});
envs
  .command("list")
  .addOption(jsonOption())
  .action(async (o) => {
    const es = await client().listEnvironments();
    if (o.json) return printJson(es);
    printTable(["Environment", "Apps", "Created"], es.map((e) => [e.name, e.apps, e.created_at]));
  });
envs
  .command("delete <name>")
  .option("--force", "also delete its apps and secrets")
  .action(async (name, o) => {
    await client().deleteEnvironment(name, Boolean(o.force));
    process.stdout.write(`deleted environment ${name}\n`);
  });

class UsageError extends Error {}

function toInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`expected a whole number >= 0, got '${v}'`);
  return n;
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") process.exit(0);
    if (typeof e.code === "string" && e.code.startsWith("commander.")) process.exit(EXIT.usage);
    if (err instanceof UsageError) {
      process.stderr.write(`falctl: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    if (err instanceof ApiError) {
      process.stderr.write(`falctl: ${err.message}\n`);
      process.exit(err.status === 0 ? EXIT.unreachable : err.code === "invalid" ? EXIT.usage : EXIT.failed);
    }
    process.stderr.write(`falctl: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT.failed);
  }
}

void main();
