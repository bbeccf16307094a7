/**
 * npm run demo: the main job end to end on the embedded platform.
 *
 *  1. start the platform (PGlite in .falplane/demo/data), which prints its first admin key;
 *  2. `pulumi up --stack staging --yes` of the infra program: deploys examples/text-to-ascii
 *     and examples/figlet-banner, whose requirements.txt (pyfiglet) the platform builds into
 *     the app's own Python environment while `pulumi up` shows the build's progress;
 *  3. call both apps through the platform and print their answers;
 *  4. change the app's code and `pulumi preview` it: one new revision, the alias moving to it;
 *  5. stop the platform.
 *
 * The infra program runs from a scratch copy in .falplane/demo/infra (the repo's
 * index.ts, stacks/ and examples/), so the demo's code change and its stack
 * state never touch the repo.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { PlatformClient } from "../src/client/client";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findEngineDir, engineEnv } = require("./engine.cjs") as {
  findEngineDir(): string | undefined;
  engineEnv(dir: string, extra?: Record<string, string>): NodeJS.ProcessEnv;
};

const ROOT = resolve(__dirname, "..");
const DEMO = join(ROOT, ".falplane", "demo");
const step = (msg: string) => process.stdout.write(`\n\x1b[1m[demo] ${msg}\x1b[0m\n`);

async function main(): Promise<number> {
  const engine = findEngineDir();
  if (!engine) throw new Error("the Pulumi engine is missing: run `node scripts/setup.cjs`");

  step(`preparing ${DEMO}`);
  rmSync(DEMO, { recursive: true, force: true });
  const infra = join(DEMO, "infra");
  mkdirSync(infra, { recursive: true });
  for (const f of ["Pulumi.yaml", "tsconfig.json", "tsconfig.pulumi.json", "index.ts"]) cpSync(join(ROOT, f), join(infra, f));
  cpSync(join(ROOT, "stacks"), join(infra, "stacks"), { recursive: true });
  cpSync(join(ROOT, "examples"), join(infra, "examples"), { recursive: true });
  writeFileSync(join(infra, "index.ts"), `export * from ${JSON.stringify(join(ROOT, "index"))};\n`);
  writeFileSync(join(infra, "tsconfig.pulumi.json"), JSON.stringify({ extends: join(ROOT, "tsconfig.pulumi.json") }));
  symlinkSync(join(ROOT, "node_modules"), join(infra, "node_modules"));

  step("starting the embedded platform: falctl platform start");
  const platform = await startPlatform(join(DEMO, "data"));
  try {
    const env = engineEnv(engine, {
      PULUMI_BACKEND_URL: `file://${join(DEMO, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "falplane-demo",
      PULUMI_HOME: join(DEMO, "pulumi-home"),
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      FAL_KEY: platform.key,
    });
    const pulumi = (...args: string[]) => {
      process.stdout.write(`$ pulumi ${args.join(" ")}\n`);
      const r = spawnSync("pulumi", args, { cwd: infra, env, stdio: "inherit" });
      if (r.status !== 0) throw new Error(`pulumi ${args[0]} failed (exit ${r.status})`);
    };
    mkdirSync(join(DEMO, "state"), { recursive: true });
    pulumi("stack", "init", "staging", "--non-interactive");
    pulumi("config", "set", "falplane:url", platform.url, "--stack", "staging");

    step("deploying: pulumi up --stack staging --yes");
    pulumi("up", "--stack", "staging", "--yes", "--non-interactive");

    step("calling the app through the platform: POST /run/local/text-to-ascii--staging");
    const client = new PlatformClient({ url: platform.url, key: platform.key });
    const res = await client.run("local/text-to-ascii--staging", { prompt: "FALPLANE" });
    if (res.status !== 200) throw new Error(`the app answered ${res.status}: ${JSON.stringify(res.body)}`);
    process.stdout.write(`request ${res.requestId} answered ${res.status}:\n\n${(res.body as { image: string }).image}\n`);

    step("calling the app that brought its own package (pyfiglet): POST /run/local/figlet-banner--staging");
    const fig = await client.run("local/figlet-banner--staging", { text: "falplane", font: "slant" });
    if (fig.status !== 200) throw new Error(`figlet-banner answered ${fig.status}: ${JSON.stringify(fig.body)}`);
    process.stdout.write(`request ${fig.requestId} answered ${fig.status}:\n\n${(fig.body as { banner: string }).banner}\n`);
    const builds = await client.listBuilds("figlet-banner", "staging");
    process.stdout.write(
      `its environment: build ${builds[0].id} (${builds[0].status}, key ${builds[0].key.slice(0, 12)}, ${builds[0].requirements.join(" ")}); ` +
        "a redeploy with the same requirements builds nothing (`falctl apps builds figlet-banner --env staging`)\n",
    );

    step("changing the app's code, then the deploy check: pulumi preview --stack staging --diff");
    appendFileSync(join(infra, "examples", "text-to-ascii", "app.py"), "\n# demo: a code change makes a new revision\n");
    pulumi("preview", "--stack", "staging", "--diff", "--non-interactive");
    process.stdout.write("\nThe preview replaces the Revision (a new one; the old one stays for rollback) and updates the alias.\n");
  } finally {
    step("stopping the platform");
    await platform.stop();
  }
  step("done");
  return 0;
}

interface DemoPlatform {
  url: string;
  key: string;
  stop(): Promise<void>;
}

/** Runs `falctl platform start` on a free port and reads its URL and first admin key. */
function startPlatform(dataDir: string): Promise<DemoPlatform> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, "bin", "falctl.cjs"), "platform", "start", "--data-dir", dataDir, "--port", "0"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FALPLANE_LOG_LEVEL: "warn" } },
  );
  child.stderr!.pipe(process.stderr);
  return new Promise((resolvePromise, reject) => {
    let url = "";
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      process.stdout.write(`  ${line}\n`);
      const u = /listening on (\S+)/.exec(line);
      if (u) url = u[1];
      const k = /FAL_KEY=(\S+)/.exec(line);
      if (k && url) {
        resolvePromise({
          url,
          key: k[1],
          stop: () =>
            new Promise((done) => {
              child.once("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`the platform exited (code ${code}) before it was ready`)));
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`[demo] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
