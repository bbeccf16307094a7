/**
 * Apps bring their own Python packages, through the real engine: an app whose
 * requirements.txt names pyfiglet (absent from the platform's Python) deploys
 * with build progress in `pulumi up`, answers with pyfiglet's output; a code
 * change reuses the environment (cache hit, nothing built); an unsatisfiable
 * requirement fails `pulumi up` with the resolver's words and leaves the
 * alias where it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync, cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, type TestProject } from "../helpers/project";
import { FIXTURE_APPS } from "../helpers/deploy";

let platform: TestPlatform;
let project: TestProject;

const SPEC = ["environment: staging", "apps:", "  - source: app/figlet/app.py::Figlet", "    root: app/figlet", "    machineType: S", ""].join("\n");

beforeAll(async () => {
  platform = await startTestPlatform();
  project = await createTestProject({ platformUrl: platform.url, apiKey: platform.key, spec: SPEC });
  cpSync(join(FIXTURE_APPS, "figlet"), join(project.appDir, "figlet"), { recursive: true });
}, 120_000);

afterAll(async () => {
  await project?.remove();
  await platform?.stop();
});

describe("an app's own Python environment through pulumi up", () => {
  let firstRevision: string;

  it("up builds the environment with progress, and the app answers with the package's output", async () => {
    let output = "";
    const preview = await project.stack.preview({ onOutput: (o) => (output += o) });
    expect(preview.stdout + output).toContain("Environment build cache: miss (will build)");

    output = "";
    const res = await project.stack.up({ onOutput: (o) => (output += o) });
    expect(res.summary.result).toBe("succeeded");
    // Progress lines of the build reach pulumi up while it waits.
    expect(output).toMatch(/building environment [0-9a-f]{12}/);
    expect(output).toContain("pyfiglet==1.0.4");
    expect(output).toMatch(/environment ready in [\d.]+ s/);
    firstRevision = res.outputs.revisions.value["figlet"];

    const out = await platform.client.run("local/figlet--staging", { text: "ok" });
    expect(out.status).toBe(200);
    const body = out.body as { banner: string; isolated: boolean };
    expect(body.banner).toContain("| |/ /");
    expect(body.isolated).toBe(true);

    const builds = await platform.client.listBuilds("figlet", "staging");
    expect(builds).toHaveLength(1);
    expect(builds[0]).toMatchObject({ status: "READY", requirements: ["pyfiglet==1.0.4"] });
  }, 240_000);

  it("a code change with the same requirements is a cache hit: the check says so and nothing is built", async () => {
    appendFileSync(join(project.appDir, "figlet", "app.py"), "\n# a code change\n");
    let output = "";
    await project.stack.preview({ onOutput: (o) => (output += o) });
    expect(output).toMatch(/Environment build cache: hit \(key [0-9a-f]{12}\)/);

    const res = await project.stack.up();
    const second = res.outputs.revisions.value["figlet"];
    expect(second).not.toBe(firstRevision);
    const builds = await platform.client.listBuilds("figlet", "staging");
    expect(builds).toHaveLength(1);
    expect(builds[0].revisions).toContain(second);
    firstRevision = second;
  }, 240_000);

  it("an unsatisfiable requirement fails pulumi up with the resolver's message; the alias stays", async () => {
    writeFileSync(join(project.appDir, "figlet", "requirements.txt"), "pyfiglet==999.0.0\n");
    const err = await project.stack.up().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const text = String((err as Error).message);
    expect(text).toContain("pyfiglet==999.0.0");
    expect(text).toMatch(/environment build failed/);

    const app = await platform.client.getApp("figlet", "staging");
    expect(app.revision).toBe(firstRevision);
    const out = await platform.client.run("local/figlet--staging", { text: "ok" });
    expect(out.status).toBe(200);
  }, 240_000);
});
