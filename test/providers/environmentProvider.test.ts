/**
 * The Environment dynamic provider, called directly against a live platform
 * (no Pulumi engine): what `pulumi up`, `refresh` and `destroy` would do.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { environmentProvider as provider, type EnvironmentProps } from "../../src/providers/environmentProvider";
import { TempDirs, createRevision } from "../helpers/support";

let p: TestPlatform;
const dirs = new TempDirs();
const props = (name: string): EnvironmentProps => ({ platformUrl: p.url, apiKey: p.key, name });
const envNames = async () => (await p.client.listEnvironments()).map((e) => e.name);

beforeAll(async () => {
  p = await startTestPlatform();
});
afterAll(async () => {
  await p?.stop();
  dirs.removeAll();
});

describe("environment provider", () => {
  it("create makes the environment on the platform and uses its name as id", async () => {
    const res = await provider.create!(props("staging"));
    expect(res.id).toBe("staging");
    expect(res.outs).toEqual(props("staging"));
    expect(await envNames()).toContain("staging");
    // Creating one that exists (e.g. after a lost state file) adopts it.
    expect((await provider.create!(props("staging"))).id).toBe("staging");
  });

  it("read finds an existing environment and reports a deleted one as gone", async () => {
    expect(await provider.read!("staging", props("staging"))).toEqual({ id: "staging", props: props("staging") });
    await provider.create!(props("vanishing"));
    await p.client.deleteEnvironment("vanishing");
    expect((await provider.read!("vanishing", props("vanishing"))).id).toBe("");
  });

  it("diff replaces on a rename and ignores connection-only changes", async () => {
    const old = props("staging");
    expect(await provider.diff!("staging", old, props("production"))).toMatchObject({ changes: true, replaces: ["name"] });
    const moved = { ...old, platformUrl: "http://127.0.0.1:1", apiKey: "other:key" };
    expect(await provider.diff!("staging", old, moved)).toMatchObject({ changes: false, replaces: [] });
  });

  it("delete removes the environment", async () => {
    await provider.create!(props("temporary"));
    await provider.delete!("temporary", props("temporary"));
    expect(await envNames()).not.toContain("temporary");
  });

  it("delete never deletes main: the resource only stops managing it", async () => {
    await provider.delete!("main", props("main"));
    expect(await envNames()).toContain("main");
  });

  it("delete refuses an environment that still has apps, naming them (no force from Pulumi)", async () => {
    await provider.create!(props("busy"));
    await createRevision(p.client, "resident", "busy", dirs.example());
    await expect(provider.delete!("busy", props("busy"))).rejects.toThrow(/409.*resident/s);
    expect(await envNames()).toContain("busy");
    expect((await p.client.listApps("busy")).map((a) => a.name)).toEqual(["resident"]);
  });
});
