/** `falctl secrets`: an environment's secrets, given to runners as environment variables when they start. */
import type { Command } from "commander";
import { printJson, printTable } from "../output";
import { envOption, jsonOption, UsageError, type Cli } from "../context";

export function registerSecrets(program: Command, cli: Cli): void {
  const secrets = program.command("secrets").description("secrets of an environment, given to runners as environment variables");
  secrets
    .command("set <pairs...>")
    .description("set NAME=VALUE pairs (runners get them when they start: run `apps rollout` to apply)")
    .addOption(envOption())
    .action(async (pairs: string[], o) => {
      for (const pair of pairs) {
        const i = pair.indexOf("=");
        // Quote the name only: the value is a secret and must not reach the terminal.
        if (i <= 0) throw new UsageError(`expected NAME=VALUE, got '${pair.split("=")[0]}'`);
        await cli.client().setSecret(pair.slice(0, i), pair.slice(i + 1), o.env);
        process.stdout.write(`set ${pair.slice(0, i)} in ${o.env}\n`);
      }
    });
  secrets
    .command("list")
    .addOption(envOption())
    .addOption(jsonOption())
    .action(async (o) => {
      const ss = await cli.client().listSecrets(o.env);
      if (o.json) return printJson(ss);
      printTable(["Secret", "Updated"], ss.map((x) => [x.name, x.updated_at]));
    });
  secrets
    .command("unset <name>")
    .addOption(envOption())
    .action(async (name, o) => {
      await cli.client().unsetSecret(name, o.env);
      process.stdout.write(`unset ${name} in ${o.env}\n`);
    });
}
