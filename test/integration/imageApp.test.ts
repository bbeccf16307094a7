/**
 * Container-image apps through the real engine (docs/images.md): an app with
 * a Dockerfile is built by BuildKit through `@pulumi/docker-build` and pushed
 * to a local registry under its content-hash tag; the revision records the
 * digest. A second `pulumi up` of unchanged code builds nothing: the engine
 * reports the Image unchanged and BuildKit's build history does not grow. A
 * changed file makes a new tag, a new digest and a new revision. A baseImage
 * app (no Dockerfile) is the base's layers plus the app's files. The local
 * backend runs the app from its Python files, as every app.
 *
 * BuildKit, buildx, the registry and the docker-build plugin are built from Go
 * modules on first use (scripts/image-tools.cjs; it says what it builds).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { EngineEvent, LocalWorkspace } from "@pulumi/pulumi/automation";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, type TestProject } from "../helpers/project";
import { startImageBuild, type ImageBuildEnv } from "../helpers/imageBuild";

const FIXTURE = resolve(__dirname, "../fixtures/image-app");
const IMAGE_TYPE = "docker-build:index:Image";
const SPEC = ["environment: staging", "apps:", "  - source: app/app.py::Greeter", "    machineType: S", "    image: {}", ""].join("\n");

let platform: TestPlatform;
let project: TestProject;
let images: ImageBuildEnv;

beforeAll(async () => {
  // First use on a machine builds the image tools (minutes; the progress lines say so).
  images = await startImageBuild();
  platform = await startTestPlatform();
  project = await createTestProject({ platformUrl: platform.url, apiKey: platform.key, spec: SPEC, appSource: FIXTURE });
  const ws = project.stack.workspace as LocalWorkspace;
  Object.assign(ws.envVars, images.env(ws.envVars.PATH ?? process.env.PATH ?? ""));
  await project.stack.setConfig("falplane:imageRegistry", { value: `${images.registryHost}/falplane` });
  await project.stack.setConfig("falplane:imageBuilder", { value: images.builder });
}, 1_800_000);

afterAll(async () => {
  await project?.remove();
  await platform?.stop();
  await images?.stop();
});

/** The engine's step for each resource of a type in one operation: `create`, `same`, `update`, ... */
function stepsOf(events: EngineEvent[], type: string): string[] {
  return events.filter((e) => e.resourcePreEvent?.metadata.type === type).map((e) => e.resourcePreEvent!.metadata.op);
}

/** `<registry>/falplane/greeter:<tag>@sha256:<digest>` split into its parts. */
function parseImage(image: string) {
  const m = /^127\.0\.0\.1:\d+\/(falplane\/greeter):([0-9a-f]{24})@(sha256:[0-9a-f]{64})$/.exec(image);
  expect(m, `image reference ${image}`).not.toBeNull();
  return { repository: m![1], tag: m![2], digest: m![3] };
}

describe("an image app through pulumi up", () => {
  let first: { revision: string; image: string };

  it("up builds the image, pushes it under its content hash and records the digest on the revision", async () => {
    let output = "";
    await project.stack.preview({ onOutput: (o) => (output += o) });
    expect(output).toMatch(/Image: 127\.0\.0\.1:\d+\/falplane\/greeter:[0-9a-f]{24} \(from Dockerfile app\/Dockerfile\)/);

    const buildsBefore = await images.buildCount();
    const events: EngineEvent[] = [];
    const res = await project.stack.up({ onEvent: (e) => events.push(e) });
    expect(res.summary.result).toBe("succeeded");
    expect(stepsOf(events, IMAGE_TYPE)).toEqual(["create"]);
    expect(await images.buildCount()).toBeGreaterThan(buildsBefore);

    const revisionId = res.outputs.revisions.value["greeter"] as string;
    const revision = await platform.client.getRevision(revisionId);
    const image = revision.code_settings.image!;
    const { repository, tag, digest } = parseImage(image);
    // The registry serves that tag with that digest.
    expect(await images.manifestDigest(repository, tag)).toBe(digest);
    first = { revision: revisionId, image };

    // The local backend runs the app from its Python files, as any app.
    const out = await platform.client.run("local/greeter--staging", { name: "image" });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ greeting: "hello image" });
  }, 600_000);

  it("a second up with unchanged code builds nothing: the Image is unchanged, BuildKit is not asked, same digest and revision", async () => {
    const buildsBefore = await images.buildCount();
    const events: EngineEvent[] = [];
    const res = await project.stack.up({ onEvent: (e) => events.push(e) });
    expect(stepsOf(events, IMAGE_TYPE)).toEqual(["same"]);
    expect(res.summary.resourceChanges).not.toHaveProperty("create");
    expect(res.summary.resourceChanges).not.toHaveProperty("update");
    expect(res.summary.resourceChanges).not.toHaveProperty("replace");
    expect(await images.buildCount()).toBe(buildsBefore);
    expect(res.outputs.revisions.value["greeter"]).toBe(first.revision);
    const revision = await platform.client.getRevision(first.revision);
    expect(revision.code_settings.image).toBe(first.image);
  }, 600_000);

  it("a changed file makes a new tag and digest, pushed, and a new revision recording them", async () => {
    appendFileSync(join(project.appDir, "app.py"), "\n# a code change\n");
    let output = "";
    await project.stack.preview({ onOutput: (o) => (output += o) });
    const old = parseImage(first.image);
    // The deploy check shows the image moving to the new tag.
    expect(output).toContain(`${images.registryHost}/${old.repository}:${old.tag}`);
    expect(output).toMatch(/\| image\s+\|.*\| new revision/);

    const buildsBefore = await images.buildCount();
    const events: EngineEvent[] = [];
    const res = await project.stack.up({ onEvent: (e) => events.push(e) });
    expect(stepsOf(events, IMAGE_TYPE)).toHaveLength(1);
    expect(stepsOf(events, IMAGE_TYPE)[0]).not.toBe("same");
    expect(await images.buildCount()).toBeGreaterThan(buildsBefore);

    const revisionId = res.outputs.revisions.value["greeter"] as string;
    expect(revisionId).not.toBe(first.revision);
    const next = parseImage((await platform.client.getRevision(revisionId)).code_settings.image!);
    expect(next.tag).not.toBe(old.tag);
    expect(next.digest).not.toBe(old.digest);
    expect(await images.manifestDigest(next.repository, next.tag)).toBe(next.digest);
    // The old tag stays in the registry: the old revision still names it for a rollback.
    expect(await images.manifestDigest(old.repository, old.tag)).toBe(old.digest);
    expect((await images.tags(next.repository)).sort()).toEqual([old.tag, next.tag].sort());
    first = { revision: revisionId, image: `${images.registryHost}/${next.repository}:${next.tag}@${next.digest}` };
  }, 600_000);

  it("a base image app: the app's files on a given base image, no Dockerfile; pushed and recorded", async () => {
    // The base: built FROM scratch by BuildKit itself and pushed to the local registry (no image is downloaded).
    const baseDir = mkdtempSync(join(tmpdir(), "falplane-base-"));
    writeFileSync(join(baseDir, "base.txt"), "the base image\n");
    writeFileSync(join(baseDir, "Dockerfile"), "FROM scratch\nCOPY base.txt /etc/base.txt\n");
    const base = `${images.registryHost}/falplane/base:1`;
    try {
      await images.pushImage(base, baseDir);
    } finally {
      rmSync(baseDir, { recursive: true, force: true });
    }
    const baseDigest = (await images.manifestDigest("falplane/base", "1"))!;
    expect(baseDigest).toMatch(/^sha256:/);
    project.writeSpec(SPEC.replace("image: {}", `image: { baseImage: "${base}" }`));

    let output = "";
    await project.stack.preview({ onOutput: (o) => (output += o) });
    expect(output).toContain(`(from base ${base})`);

    const events: EngineEvent[] = [];
    const res = await project.stack.up({ onEvent: (e) => events.push(e) });
    expect(stepsOf(events, IMAGE_TYPE)).toHaveLength(1);
    expect(stepsOf(events, IMAGE_TYPE)[0]).not.toBe("same");
    const revisionId = res.outputs.revisions.value["greeter"] as string;
    expect(revisionId).not.toBe(first.revision);
    const next = parseImage((await platform.client.getRevision(revisionId)).code_settings.image!);
    expect(next.tag).not.toBe(parseImage(first.image).tag);
    expect(await images.manifestDigest(next.repository, next.tag)).toBe(next.digest);
    // The app's image starts with the base's layer, and adds the app's files on top.
    const baseLayers = await images.layers("falplane/base", baseDigest);
    const appLayers = await images.layers(next.repository, next.digest);
    expect(appLayers.slice(0, baseLayers.length)).toEqual(baseLayers);
    expect(appLayers.length).toBeGreaterThan(baseLayers.length);
  }, 600_000);
});
