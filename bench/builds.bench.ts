/**
 * npm run bench (second part) — environment builds, figures not pass/fail,
 * all measured in one run on this machine:
 *
 *  1. cold build of the figlet test app (pyfiglet==1.0.4): uv's download cache empty;
 *  2. cold build of a new key with uv's cache warm (pyfiglet==1.0.3 after 1.0.4 was fetched);
 *  3. cache hit: a code change with the same requirements (a new revision whose
 *     environment exists). What the hit adds to the deploy is the environment
 *     lookup (build key + database), measured alone as POST /v1/builds/plan
 *     against GET /v1/apps/<app> on the same platform (an API call's floor).
 */
import { cpSync, mkdtempSync, rmSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startPlatform } from "../src/platform/startPlatform";
import { PlatformClient } from "../src/client/client";
import { createLogger } from "../src/platform/log";
import { uploadFiles } from "../src/client/upload";
import { collectAppFiles } from "../src/model/files";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS } from "../src/model/catalog";

const KEY = "bench:bench-secret-0123456789";
const FIGLET = resolve(__dirname, "../test/fixtures/apps/figlet");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "falplane-bench-builds-"));
  // An empty uv cache for this run: the first build downloads from the index.
  process.env.UV_CACHE_DIR = join(work, "uv-cache");
  const platform = await startPlatform({ dataDir: join(work, "data"), port: 0, bootstrapKey: KEY, logger: createLogger("warn") });
  const client = new PlatformClient({ url: platform.url, key: KEY });
  const app = join(work, "app");
  cpSync(FIGLET, app, { recursive: true });
  try {
    const deployRevision = async (requirements: string[]) => {
      const started = performance.now();
      const files = collectAppFiles(app);
      await uploadFiles(client, app, files);
      const rev = await client.createRevision("figlet", "main", {
        source_object: "app.py::Figlet",
        files,
        code_settings: { ...CODE_SETTINGS_DEFAULTS, requirements },
        scaling: RUNTIME_SCALING_DEFAULTS,
        auth_mode: "private",
      });
      const created = performance.now() - started;
      const build = await client.followBuild(rev.build.id, () => undefined, 50);
      return { created, total: performance.now() - started, cache: rev.build.cache, status: build.status, reused: rev.reused };
    };

    const cold = await deployRevision(["pyfiglet==1.0.4"]);
    const warmUv = await deployRevision(["pyfiglet==1.0.3"]);
    console.log("environment builds (pyfiglet, uv, this machine)");
    console.log(`  cold build, empty uv cache:      ${(cold.total / 1000).toFixed(2)} s (${cold.cache}, ${cold.status})`);
    console.log(`  another new key (pyfiglet 1.0.3): ${(warmUv.total / 1000).toFixed(2)} s (${warmUv.cache}, ${warmUv.status})`);

    // Cache hits: each round changes the code (a new revision), same requirements.
    const hits: number[] = [];
    for (let i = 0; i < 20; i++) {
      appendFileSync(join(app, "app.py"), `\n# change ${i}\n`);
      const hit = await deployRevision(["pyfiglet==1.0.4"]);
      if (hit.cache !== "hit") throw new Error(`expected a cache hit, got ${hit.cache}`);
      hits.push(hit.created);
    }
    const timed = async (n: number, fn: () => Promise<unknown>) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await fn();
        out.push(performance.now() - t);
      }
      return out;
    };
    const plans = await timed(50, () => client.planBuild(["pyfiglet==1.0.4"], null));
    const floor = await timed(50, () => client.getApp("figlet"));
    console.log(`  revision call with a cache hit:   p50 ${pct(hits, 50).toFixed(1)} ms, p99 ${pct(hits, 99).toFixed(1)} ms (N=20, files uploaded before)`);
    console.log(`  environment lookup alone:         p50 ${pct(plans, 50).toFixed(1)} ms (POST /v1/builds/plan, N=50)`);
    console.log(`  API call floor, same run:         p50 ${pct(floor, 50).toFixed(1)} ms (GET /v1/apps/figlet, N=50)`);
    console.log(`  a cache hit adds ≈ ${(pct(plans, 50) - pct(floor, 50)).toFixed(1)} ms to a deploy (goal < 200 ms)`);
  } finally {
    await platform.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
