/**
 * falctl: the platform's command line, mirroring the fal CLI over the platform
 * API. This file holds the global options and the exit codes; each command
 * group is in ./commands.
 *
 * Exit codes: 0 success; 1 the platform refused or failed the operation;
 * 2 bad usage or input; 3 the platform could not be reached.
 */
import { Command, Option } from "commander";
import { ApiError, PlatformClient } from "../client/client";
import { EXIT, UsageError, type Cli } from "./context";
import { registerPlatform } from "./commands/platform";
import { registerApps } from "./commands/apps";
import { registerSecrets } from "./commands/secrets";
import { registerRun } from "./commands/run";
import { registerKeys } from "./commands/keys";
import { registerEnvironments } from "./commands/environments";

const program = new Command("falctl")
  .description("Manage a falplane runner platform")
  .addOption(new Option("--url <url>", "platform URL").env("FALPLANE_URL").default("http://127.0.0.1:8787"))
  .addOption(new Option("--key <key_id:secret>", "API key").env("FAL_KEY"))
  .showHelpAfterError()
  .exitOverride();

const cli: Cli = {
  client() {
    const o = program.opts<{ url: string; key?: string }>();
    return new PlatformClient({ url: o.url, key: o.key });
  },
  url() {
    return program.opts<{ url: string }>().url.replace(/\/+$/, "");
  },
};

registerPlatform(program, cli);
registerApps(program, cli);
registerSecrets(program, cli);
registerRun(program, cli);
registerKeys(program, cli);
registerEnvironments(program, cli);

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
