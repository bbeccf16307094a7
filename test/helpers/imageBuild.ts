/**
 * What image apps are built with, started for one test file: a local image
 * registry (distribution) and a BuildKit daemon, on free ports and in a temp
 * directory, each in its own process group and killed by stop(); plus a buildx
 * "remote" builder pointing at the daemon, so `@pulumi/docker-build` builds
 * offline (shared/recipes/buildkit-registry-start.sh, without podman).
 *
 * The binaries come from scripts/image-tools.cjs (built on first use, saying
 * what it builds while it builds; cached in ~/.cache/falplane).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tools = require("../../scripts/image-tools.cjs") as {
  imageToolPath(binary: string): string;
  buildImageTools(): Promise<string[]>;
};

const run = promisify(execFile);

export interface ImageBuildEnv {
  /** `127.0.0.1:<port>`: the registry's host, as image references name it. */
  readonly registryHost: string;
  /** `http://127.0.0.1:<port>`: its HTTP API. */
  readonly registryUrl: string;
  /** The buildx builder (stack config `falplane:imageBuilder`). */
  readonly builder: string;
  /** Environment the engine needs: DOCKER_CONFIG (the builder) and the docker-build plugin on PATH. */
  env(basePath: string): Record<string, string>;
  /** Digest the registry serves for `repository:tag` (repository without the host), or undefined when it has none. */
  manifestDigest(repository: string, tag: string): Promise<string | undefined>;
  /** Tags the registry has of a repository (without the host). */
  tags(repository: string): Promise<string[]>;
  /** Layer digests of the linux/amd64 image `repository@digest` (repository without the host). */
  layers(repository: string, digest: string): Promise<string[]>;
  /** Builds the Dockerfile in `dir` straight with buildctl and pushes it as `ref` (a base image for a test). */
  pushImage(ref: string, dir: string): Promise<void>;
  /** How many builds the BuildKit daemon has run (its build history). */
  buildCount(): Promise<number>;
  stop(): Promise<void>;
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

/** Starts a daemon in its own process group, its output in `log`. */
function startDaemon(bin: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(log, "a");
  const child = spawn(bin, args, { detached: true, stdio: ["ignore", fd, fd], env });
  closeSync(fd);
  child.on("error", () => {});
  return child;
}

/** Kills a daemon's process group: SIGTERM, then SIGKILL after 10 s. */
async function stopDaemon(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `check` every 200 ms until it resolves true; fails with the log's tail after `limitMs`. */
async function waitFor(what: string, check: () => Promise<boolean>, child: ChildProcess, log: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    const tail = () => readFileSync(log, "utf8").split("\n").slice(-20).join("\n");
    if (child.exitCode !== null) throw new Error(`${what} exited (code ${child.exitCode}):\n${tail()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${limitMs / 1000} s:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export async function startImageBuild(): Promise<ImageBuildEnv> {
  await tools.buildImageTools();
  // BuildKit's OCI worker refuses to start without runc (even for builds with no RUN step).
  await run("runc", ["--version"]).catch(() => {
    throw new Error("runc is missing: BuildKit's OCI worker needs it. `npm run setup` installs it as root (apt-get install runc)");
  });
  const dir = mkdtempSync(join(tmpdir(), "falplane-img-"));
  const registryPort = await freePort();
  const registryHost = `127.0.0.1:${registryPort}`;
  const registryUrl = `http://${registryHost}`;
  const socket = join(dir, "buildkitd.sock");
  const builder = "falplane-test";
  const dockerConfig = join(dir, "docker-config");
  mkdirSync(dockerConfig);
  mkdirSync(join(dir, "registry-data"));

  writeFileSync(
    join(dir, "registry.yml"),
    [
      "version: 0.1",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "registry-data")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${registryHost}`,
      "log:",
      "  level: warn",
      "",
    ].join("\n"),
  );
  // The native snapshotter copies instead of mounting overlays: works on any filesystem, and
  // the test's images are small. gc off: the daemon lives only as long as the test file.
  writeFileSync(
    join(dir, "buildkitd.toml"),
    [
      "[worker.oci]",
      "  enabled = true",
      '  binary = "runc"',
      '  snapshotter = "native"',
      "  gc = false",
      "[worker.containerd]",
      "  enabled = false",
      `[registry."${registryHost}"]`,
      "  http = true",
      "  insecure = true",
      "",
    ].join("\n"),
  );

  let registry: ChildProcess | undefined;
  let buildkitd: ChildProcess | undefined;
  const stop = async () => {
    await Promise.all([stopDaemon(buildkitd), stopDaemon(registry)]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const registryLog = join(dir, "registry.log");
    registry = startDaemon(tools.imageToolPath("registry"), ["serve", join(dir, "registry.yml")], registryLog);
    await waitFor("the registry", async () => (await fetch(`${registryUrl}/v2/`)).status === 200, registry, registryLog);

    const buildkitLog = join(dir, "buildkitd.log");
    buildkitd = startDaemon(
      tools.imageToolPath("buildkitd"),
      ["--config", join(dir, "buildkitd.toml"), "--root", join(dir, "buildkit"), "--addr", `unix://${socket}`],
      buildkitLog,
    );
    const buildctl = tools.imageToolPath("buildctl");
    await waitFor("buildkitd", async () => (await run(buildctl, ["--addr", `unix://${socket}`, "debug", "workers"])).stdout.length > 0, buildkitd, buildkitLog);

    await run(tools.imageToolPath("buildx"), ["create", "--name", builder, "--driver", "remote", `unix://${socket}`], {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig },
    });
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    registryHost,
    registryUrl,
    builder,
    env(basePath) {
      return { DOCKER_CONFIG: dockerConfig, PATH: `${dirname(tools.imageToolPath("pulumi-resource-docker-build"))}:${basePath}` };
    },
    async manifestDigest(repository, tag) {
      const res = await fetch(`${registryUrl}/v2/${repository}/manifests/${tag}`, { method: "HEAD", headers: { Accept: MANIFEST_TYPES } });
      return res.status === 200 ? (res.headers.get("docker-content-digest") ?? undefined) : undefined;
    },
    async tags(repository) {
      const res = await fetch(`${registryUrl}/v2/${repository}/tags/list`);
      if (res.status !== 200) return [];
      return ((await res.json()) as { tags: string[] | null }).tags ?? [];
    },
    async layers(repository, digest) {
      const get = async (ref: string) => {
        const res = await fetch(`${registryUrl}/v2/${repository}/manifests/${ref}`, { headers: { Accept: MANIFEST_TYPES } });
        if (res.status !== 200) throw new Error(`registry: ${repository}@${ref}: HTTP ${res.status}`);
        return (await res.json()) as { manifests?: { digest: string; platform?: { architecture: string; os: string } }[]; layers?: { digest: string }[] };
      };
      let doc = await get(digest);
      if (doc.manifests) {
        // An index (BuildKit adds attestation manifests): the image of this platform.
        const image = doc.manifests.find((m) => m.platform?.os === "linux" && m.platform?.architecture === "amd64");
        if (!image) throw new Error(`registry: ${repository}@${digest} has no linux/amd64 image`);
        doc = await get(image.digest);
      }
      return (doc.layers ?? []).map((l) => l.digest);
    },
    async pushImage(ref, contextDir) {
      await run(buildctl(), [
        "--addr", `unix://${socket}`, "build", "--frontend", "dockerfile.v0",
        "--local", `context=${contextDir}`, "--local", `dockerfile=${contextDir}`,
        "--output", `type=image,name=${ref},push=true,registry.insecure=true`,
      ]);
    },
    async buildCount() {
      const { stdout } = await run(buildctl(), ["--addr", `unix://${socket}`, "debug", "histories", "--format", "{{json .}}"]);
      return stdout.split("\n").filter((l) => l.trim()).length;
    },
    stop,
  };

  function buildctl() {
    return tools.imageToolPath("buildctl");
  }
}
