/**
 * A user's first `pulumi preview` on a fresh stack, before any
 * `pulumi config set`: the engine sends the language host no config at all,
 * and a program that reads config (`new pulumi.Config().get(...)`) must see
 * "not set", not crash in the SDK's parseConfig. Runs through the real engine
 * and this project's own Node language host.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { engineDir, REPO } from "../helpers/project";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { engineEnv } = require("../../scripts/engine.cjs") as { engineEnv(dir: string, extra?: Record<string, string>): Record<string, string> };

const dir = mkdtempSync(join(tmpdir(), "falplane-noconfig-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a stack with no config", () => {
  it("previews and updates: Config.get answers undefined, Config.require names the missing key", async () => {
    mkdirSync(join(dir, ".state"));
    symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: noconfig\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: join(REPO, "tsconfig.pulumi.json") }));
    writeFileSync(
      join(dir, "index.ts"),
      [
        'import * as pulumi from "@pulumi/pulumi";',
        "const config = new pulumi.Config();",
        'export const region = config.get("region") ?? "unset";',
        'export const secretSet = config.getSecret("token") === undefined ? "no" : "yes";',
        "",
      ].join("\n"),
    );
    const engine = engineDir();
    const ws = await LocalWorkspace.create({
      workDir: dir,
      pulumiHome: join(dir, ".pulumi-home"),
      envVars: engineEnv(engine, {
        PULUMI_CONFIG_PASSPHRASE: "test-passphrase",
        PULUMI_HOME: join(dir, ".pulumi-home"),
        PULUMI_BACKEND_URL: `file://${join(dir, ".state")}`,
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      }),
      pulumiCommand: await PulumiCommand.get({ root: dirname(engine) }),
    });
    const stack = await Stack.create("dev", ws);
    expect(await stack.getAllConfig()).toEqual({});

    const preview = await stack.preview();
    expect(preview.changeSummary.create).toBe(1); // the stack resource itself
    const up = await stack.up();
    expect(up.outputs.region.value).toBe("unset");
    expect(up.outputs.secretSet.value).toBe("no");
  }, 180_000);
});
