/**
 * GPUs on the local backend: GPU machine types are hosted only when the
 * machine has GPUs; each runner sees only the GPUs handed to it through
 * CUDA_VISIBLE_DEVICES (num_gpus multiplies the type's count); CPU runners
 * see none; a runner that needs more GPUs than the machine has fails with a
 * clear error (placement on a full pool: gpuPlacement.test.ts). No GPU here, so the machine's GPU list is configured.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { ApiError } from "../../src/client/client";

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ database: "pglite", gpus: ["0", "1", "2"] });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

const env = async (endpoint: string, name: string) => (await platform.client.run(endpoint, { name }, "env")).body as { value: string | null };

describe("GPUs", () => {
  it("a GPU-A100 runner with num_gpus 2 sees two GPUs; a CPU runner sees none", async () => {
    await deployWorker(platform.client, { name: "big", strategy: "rolling", codeSettings: { machine_types: ["GPU-A100"], num_gpus: 2 } });
    await deployWorker(platform.client, { name: "cpu", strategy: "rolling" });
    expect((await env("local/big", "CUDA_VISIBLE_DEVICES")).value).toBe("0,1");
    expect((await env("local/cpu", "CUDA_VISIBLE_DEVICES")).value).toBe("");
  }, 90_000);

  it("a runner needing more GPUs than the machine has fails its deploy at once with the counts, and the alias stays", async () => {
    const err = await deployWorker(platform.client, { name: "big2", strategy: "rolling", codeSettings: { machine_types: ["GPU-H100"], num_gpus: 4 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toContain("it needs 4 GPU(s) of GPU-H100; this machine has 3");
    expect((await platform.client.findApp("big2"))?.revision ?? null).toBeNull();
  }, 90_000);

  it("without GPUs the GPU types are refused at deploy time, naming what the machine hosts", async () => {
    const cpuOnly = await startTestPlatform({ database: "pglite", gpus: [] });
    try {
      const err = await deployWorker(cpuOnly.client, { name: "gpu", codeSettings: { machine_types: ["GPU-A100"] } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as ApiError).status).toBe(422);
      expect((err as ApiError).message).toContain("[GPU-A100]");
      expect((err as ApiError).message).toContain("hosts [XS, S, M, L]");
    } finally {
      await cpuOnly.stop();
    }
  }, 90_000);
});
