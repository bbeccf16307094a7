/** `falctl apps`: apps, their revisions, scaling, builds, runners, rollouts and usage. */
import { Option, type Command } from "commander";
import { printJson, printTable } from "../output";
import { envOption, jsonOption, toInt, UsageError, type Cli } from "../context";
import { DEFAULT_STRATEGY, STRATEGIES, aliasName } from "../../model/catalog";
import { runtimeScalingPatch } from "../../model/scaling";

export function registerApps(program: Command, cli: Cli): void {
  const apps = program.command("apps").description("apps, revisions and runners");
  apps
    .command("list")
    .addOption(new Option("--env <env>", "only this environment"))
    .addOption(jsonOption())
    .action(async (o) => {
      const list = await cli.client().listApps(o.env);
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
      const revs = await cli.client().listRevisions(app, o.env);
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
    .addOption(new Option("--strategy <strategy>", "how to switch").choices(STRATEGIES).default(DEFAULT_STRATEGY))
    .addOption(jsonOption())
    .action(async (app, revision, o) => {
      const a = await cli.client().updateApp(app, o.env, { revision_id: revision, strategy: o.strategy });
      if (o.json) return printJson(a);
      process.stdout.write(`${aliasName(a.name, a.environment)} now serves revision ${a.revision}\n`);
    });
  apps
    .command("scale <app>")
    .description("change runtime-tunable scaling values without a deploy")
    .addOption(envOption())
    // Named as the app spec's `scaling:` fields, so runtimeScalingPatch maps them to the platform's names.
    .option("--keep-alive <s>", "seconds an idle runner stays", toInt)
    .option("--min-concurrency <n>", "runners kept warm", toInt)
    .option("--max-concurrency <n>", "most runners", toInt)
    .option("--concurrency-buffer <n>", "extra runners ahead of demand", toInt)
    .option("--concurrency-buffer-perc <p>", "extra runners as % of demand", toInt)
    .option("--scaling-delay <s>", "seconds a request waits before a scale-up", toInt)
    .option("--request-timeout <s>", "seconds a request may run", toInt)
    .addOption(jsonOption())
    .action(async (app, o) => {
      const scaling = runtimeScalingPatch(o);
      if (Object.keys(scaling).length === 0) throw new UsageError("give at least one value to change, e.g. --max-concurrency 4");
      const a = await cli.client().updateApp(app, o.env, { scaling });
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
      const c = cli.client();
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
      const rs = await cli.client().listRunners(app, o.env);
      if (o.json) return printJson(rs);
      printTable(
        ["Runner", "Revision", "State", "Machine", "Region", "In flight", "Uptime (s)", "PID", "Reason"],
        // A PENDING runner says what it waits for; a CRASH_BACKOFF row, why and until when.
        rs.map((r) => [r.runner_id, r.revision, r.state, r.machine_type, r.region, r.in_flight_requests, r.uptime, r.pid, r.reason ?? r.error ?? ""]),
      );
    });
  apps
    .command("delete-rev <revision>")
    .description("delete an inactive revision")
    .action(async (rev) => {
      await cli.client().deleteRevision(rev);
      process.stdout.write(`deleted revision ${rev}\n`);
    });
  apps
    .command("delete <app>")
    .description("delete an app with its revisions and runners")
    .addOption(envOption())
    .action(async (app, o) => {
      await cli.client().deleteApp(app, o.env);
      process.stdout.write(`deleted ${aliasName(app, o.env)}\n`);
    });

  apps
    .command("rollout <app>")
    .description("restart every runner of the app without changing revision (after a secret change, for stuck runners)")
    .addOption(envOption())
    .option("--force", "kill runners now; in-flight requests fail (queued ones are retried)")
    .addOption(jsonOption())
    .action(async (app, o) => {
      const r = await cli.client().rollout(app, o.env, Boolean(o.force));
      if (o.json) return printJson(r);
      process.stdout.write(`${o.force ? "killed" : "drained and stopped"} ${r.restarted} runner(s) of ${aliasName(app, o.env)}; the autoscaler starts replacements\n`);
    });
  apps
    .command("usage <app>")
    .description("calls per caller key")
    .addOption(envOption())
    .addOption(jsonOption())
    .action(async (app, o) => {
      const u = await cli.client().usage(app, o.env);
      if (o.json) return printJson(u);
      printTable(["Caller key", "Calls", "Last call"], u.map((x) => [x.caller, x.calls, x.last_at]));
    });
}
