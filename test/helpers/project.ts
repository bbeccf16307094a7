/**
 * A throwaway Pulumi project for a test: the repo's own program (index.ts)
 * run from a temp directory with its own stack spec, a copy of the example
 * app (so tests can change its code), and a temp file backend. Driven with the
 * Automation API and the real engine.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findEngineDir, engineEnv } = require("../../scripts/engine.cjs") as {
  findEngineDir(): string | undefined;
  engineEnv(dir: string, extra?: Record<string, string>): Record<string, string>;
};

export const REPO = resolve(__dirname, "../..");

export interface TestProject {
  readonly dir: string;
  readonly appDir: string;
  readonly stack: Stack;
  readonly stateDir: string;
  /** Rewrites the stack's app spec (YAML text). */
  writeSpec(yaml: string): void;
  /** The stack's state file as text (what a backend stores). */
  stateText(): string;
  remove(): Promise<void>;
}

export function engineDir(): string {
  const dir = findEngineDir();
  if (!dir) throw new Error("Pulumi engine not found: run `node scripts/setup.cjs` (npm test does)");
  return dir;
}

export async function createTestProject(opts: {
  /** Stack config `falplane:url`; not set when undefined. */
  platformUrl?: string;
  /** Secret stack config `falplane:apiKey`; not set when undefined. */
  apiKey?: string;
  stackName?: string;
  /** The stack's app spec (stacks/apps.<stack>.yaml); not written when undefined. */
  spec?: string;
  /** Directory copied into the project as `app/`. Default examples/text-to-ascii. */
  appSource?: string;
  /** Module the project's index.ts re-exports (the program). Default the repo's infra program, index.ts. */
  program?: string;
  /** Folders put on PATH before the engine's: provider plugins such as pulumi-resource-kubernetes. Default none. */
  pluginDirs?: string[];
  /** More environment variables for the engine and the program. Default none. */
  env?: Record<string, string>;
}): Promise<TestProject> {
  const dir = mkdtempSync(join(tmpdir(), "falplane-proj-"));
  const stateDir = join(dir, ".state");
  mkdirSync(stateDir);
  mkdirSync(join(dir, "stacks"));
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  writeFileSync(
    join(dir, "Pulumi.yaml"),
    [
      "name: falplane-test",
      "runtime:",
      "  name: nodejs",
      "  options:",
      "    typescript: true",
      "    tsconfig: tsconfig.json",
      "stackConfigDir: stacks",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: join(REPO, "tsconfig.pulumi.json") }));
  writeFileSync(join(dir, "index.ts"), `export * from ${JSON.stringify(opts.program ?? join(REPO, "index"))};\n`);
  const appDir = join(dir, "app");
  cpSync(opts.appSource ?? join(REPO, "examples", "text-to-ascii"), appDir, { recursive: true });
  const stackName = opts.stackName ?? "staging";
  const writeSpec = (yaml: string) => writeFileSync(join(dir, "stacks", `apps.${stackName}.yaml`), yaml);
  if (opts.spec !== undefined) writeSpec(opts.spec);

  const engine = engineDir();
  const env = engineEnv(engine, {
    PULUMI_CONFIG_PASSPHRASE: "test-passphrase",
    PULUMI_HOME: join(dir, ".pulumi-home"),
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    ...(opts.pluginDirs ? { PATH: [...opts.pluginDirs, engine, process.env.PATH ?? ""].join(delimiter) } : {}),
    ...opts.env,
  });
  const ws = await LocalWorkspace.create({
    workDir: dir,
    pulumiHome: join(dir, ".pulumi-home"),
    envVars: env,
    pulumiCommand: await PulumiCommand.get({ root: dirname(engine) }),
  });
  const stack = await Stack.create(stackName, ws);
  if (opts.platformUrl !== undefined) await stack.setConfig("falplane:url", { value: opts.platformUrl });
  if (opts.apiKey !== undefined) await stack.setConfig("falplane:apiKey", { value: opts.apiKey, secret: true });

  return {
    dir,
    appDir,
    stack,
    stateDir,
    writeSpec,
    stateText() {
      const root = join(stateDir, ".pulumi", "stacks");
      const texts: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else texts.push(readFileSync(join(d, e.name), "utf8"));
        }
      };
      walk(root);
      return texts.join("\n");
    },
    async remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The spec text of one app from the copied example. */
export function exampleSpec(overrides: { environment?: string; extra?: string; machineType?: string } = {}): string {
  return [
    `environment: ${overrides.environment ?? "staging"}`,
    "apps:",
    "  - source: app/app.py::TextToAscii",
    `    machineType: ${overrides.machineType ?? "S"}`,
    "    scaling:",
    "      keepAlive: 120",
    "      maxMultiplexing: 4",
    "      startupTimeout: 60",
    ...(overrides.extra ? overrides.extra.split("\n").map((l) => `    ${l}`) : []),
    "",
  ].join("\n");
}
