/**
 * `falctl run`: fal's ephemeral run. Deploys `path/file.py::Class` as a
 * temporary app (public unless --auth says otherwise) and removes it when the
 * command exits on Ctrl-C, SIGTERM or SIGHUP.
 */
import { Option, type Command } from "commander";
import { basename, dirname, resolve as resolvePath } from "node:path";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ApiError } from "../../client/client";
import { deployDirectory } from "../../client/deployDir";
import { AUTH_MODES, EPHEMERAL_AUTH_MODE, aliasName } from "../../model/catalog";
import { resolveCodeValues, type CodeValues } from "../../model/classSettings";
import { envOption, EXIT, UsageError, type Cli } from "../context";

export function registerRun(program: Command, cli: Cli): void {
  program
    .command("run <source>")
    .description("deploy path/file.py::Class as a temporary public app; it is removed when this command exits (Ctrl-C included)")
    .option("--name <name>", "app name (default: the class's app_name, else its name in kebab case, plus a random suffix)")
    .addOption(envOption())
    .addOption(new Option("--auth <mode>", "auth mode").choices(AUTH_MODES).default(EPHEMERAL_AUTH_MODE))
    .action(async (source: string, o) => {
      const m = /^(.+\.py)::([A-Za-z_][A-Za-z0-9_]*)$/.exec(source);
      if (!m) throw new UsageError(`expected path/file.py::ClassName, got '${source}'`);
      const file = resolvePath(m[1]);
      if (!existsSync(file)) throw new UsageError(`no such file: ${m[1]}`);
      // The class's settings (fal's class attributes, pyproject.toml) are the app's values, as for a deploy.
      let code: CodeValues;
      try {
        code = resolveCodeValues(file, m[2], dirname(file), {});
      } catch (err) {
        throw new UsageError(`${source}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const name = o.name ?? `${code.appName}-${randomBytes(3).toString("hex")}`;
      const c = cli.client();
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
          scaling: code.scaling,
          codeSettings: code.codeSettings,
          message: "falctl run (ephemeral)",
          onBuildLine: (line) => process.stdout.write(`  build: ${line}\n`),
        });
      } catch (err) {
        await remove().catch(() => undefined);
        throw err;
      }
      const endpoint = `${me.owner}/${aliasName(name, o.env)}`;
      const base = cli.url();
      process.stdout.write(
        `ready: ${endpoint}\n  sync:  curl -X POST ${base}/run/${endpoint} -H 'content-type: application/json' -d '{}'\n` +
          `  queue: curl -X POST ${base}/queue/${endpoint} -H 'content-type: application/json' -d '{}'\n` +
          `Ctrl-C stops it and removes the app.\n`,
      );
      // Stay up until a signal arrives (a pending promise alone does not keep Node running).
      setInterval(() => undefined, 1 << 30);
      await new Promise(() => undefined);
    });
}
