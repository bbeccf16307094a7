/** `falctl keys`: API keys of the caller's owner; a key's secret is shown once, when it is made. */
import { Option, type Command } from "commander";
import { printJson, printTable } from "../output";
import { jsonOption, type Cli } from "../context";

export function registerKeys(program: Command, cli: Cli): void {
  const keys = program.command("keys").description("API keys");
  keys
    .command("create")
    .addOption(new Option("--scope <scope>", "what the key may do").choices(["API", "ADMIN"]).default("API"))
    .option("--alias <alias>", "a name for the key", "")
    .addOption(jsonOption())
    .action(async (o) => {
      const k = await cli.client().createKey(o.scope, o.alias);
      if (o.json) return printJson(k);
      process.stdout.write(`created ${k.scope} key ${k.key_id}; its secret is shown only now:\nFAL_KEY=${k.key_id}:${k.key_secret}\n`);
    });
  keys
    .command("list")
    .addOption(jsonOption())
    .action(async (o) => {
      const ks = await cli.client().listKeys();
      if (o.json) return printJson(ks);
      printTable(["Key id", "Scope", "Alias", "Created"], ks.map((k) => [k.key_id, k.scope, k.alias, k.created_at]));
    });
  keys.command("revoke <key_id>").action(async (id) => {
    await cli.client().revokeKey(id);
    process.stdout.write(`revoked ${id}\n`);
  });
}
