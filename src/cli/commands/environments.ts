/** `falctl environments` (`envs`): create, list and delete environments; `main` always exists. */
import type { Command } from "commander";
import { printJson, printTable } from "../output";
import { jsonOption, type Cli } from "../context";

export function registerEnvironments(program: Command, cli: Cli): void {
  const envs = program.command("environments").alias("envs").description("environments");
  envs.command("create <name>").action(async (name) => {
    const r = await cli.client().createEnvironment(name);
    process.stdout.write(r.created ? `created environment ${name}\n` : `environment ${name} already exists\n`);
  });
  envs
    .command("list")
    .addOption(jsonOption())
    .action(async (o) => {
      const es = await cli.client().listEnvironments();
      if (o.json) return printJson(es);
      printTable(["Environment", "Apps", "Created"], es.map((e) => [e.name, e.apps, e.created_at]));
    });
  envs
    .command("delete <name>")
    .option("--force", "also delete its apps and secrets")
    .action(async (name, o) => {
      await cli.client().deleteEnvironment(name, Boolean(o.force));
      process.stdout.write(`deleted environment ${name}\n`);
    });
}
