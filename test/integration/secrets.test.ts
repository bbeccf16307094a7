/**
 * Secrets as code: names listed in the stack spec, values from secret stack
 * config. `pulumi up` sets them on the platform (never in plaintext in state),
 * a changed value updates the secret, and removing one unsets it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, exampleSpec, type TestProject } from "../helpers/project";

let platform: TestPlatform;
let project: TestProject;
const specWith = (names: string[]) => exampleSpec().replace("apps:\n", `secrets: [${names.join(", ")}]\napps:\n`);
const stored = async () =>
  Object.fromEntries(
    (await platform.db.query<{ name: string; value: string }>("SELECT name, value FROM secrets WHERE environment = 'staging' ORDER BY name")).map((r) => [r.name, r.value]),
  );

beforeAll(async () => {
  platform = await startTestPlatform({ database: "pglite" });
  project = await createTestProject({ platformUrl: platform.url, apiKey: platform.key, spec: specWith(["HF_TOKEN", "WANDB_KEY"]) });
}, 120_000);

afterAll(async () => {
  await project?.remove();
  await platform?.stop();
});

describe("secrets from Pulumi secrets", () => {
  it("up sets them on the platform and keeps them encrypted in state", async () => {
    await project.stack.setConfig("falplane:secrets.HF_TOKEN", { value: "hf-very-secret-1", secret: true }, true);
    await project.stack.setConfig("falplane:secrets.WANDB_KEY", { value: "wandb-very-secret-2", secret: true }, true);
    await project.stack.up();
    expect(await stored()).toEqual({ HF_TOKEN: "hf-very-secret-1", WANDB_KEY: "wandb-very-secret-2" });
    expect((await platform.client.listSecrets("staging")).map((s) => s.name)).toEqual(["HF_TOKEN", "WANDB_KEY"]);
    const state = project.stateText();
    expect(state).not.toContain("hf-very-secret-1");
    expect(state).not.toContain("wandb-very-secret-2");
  }, 180_000);

  it("a changed value updates it; a name dropped from the spec is unset", async () => {
    await project.stack.setConfig("falplane:secrets.HF_TOKEN", { value: "hf-rotated-3", secret: true }, true);
    project.writeSpec(specWith(["HF_TOKEN"]));
    await project.stack.up();
    expect(await stored()).toEqual({ HF_TOKEN: "hf-rotated-3" });
  }, 180_000);

  it("a listed secret without a value fails the preview with the command that sets it", async () => {
    project.writeSpec(specWith(["HF_TOKEN", "MISSING_ONE"]));
    const err = await project.stack.preview().then(() => undefined, (e: Error) => e);
    expect(String(err?.message)).toContain("secret MISSING_ONE is listed in stacks/apps.staging.yaml but has no value");
    expect(await stored()).toEqual({ HF_TOKEN: "hf-rotated-3" });
  }, 180_000);
});
