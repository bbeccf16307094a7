/**
 * A real Kubernetes control plane for a test: etcd, kube-apiserver,
 * kube-scheduler and kube-controller-manager (built from Go modules by
 * scripts/k8s.cjs, cached in ~/.cache/falplane/k8s-v1.36.1/bin), plus kwok,
 * which plays the kubelet of fake nodes: a Pod bound to one becomes Ready
 * (no container runs), a deleted one goes away. Everything listens on free
 * 127.0.0.1 ports, runs in its own process group in a temp directory, and
 * stop() kills every group and removes the directory (an exit hook does it
 * too if the test process dies first).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { freePort } from "../../src/platform/runners/localBackend";

const ROOT = resolve(__dirname, "../..");
const STAGES = join(ROOT, "test/fixtures/kube/kwok-stages.yaml");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const k8sBuild = require(join(ROOT, "scripts/k8s.cjs")) as { K8S_BIN_DIR: string; k8sMissing(): string[] };

/** The taint kwok's fake nodes carry; runner Pods of the tests tolerate it. */
export const KWOK_TOLERATION = { key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" };

export interface FakeNode {
  readonly name: string;
  /** `nvidia.com/gpu` capacity. Default 0. */
  readonly gpus?: number;
  /** Value of the GPU-type label (`falplane.dev/machine-type`), e.g. GPU-H100. */
  readonly gpuType?: string;
  /** `topology.kubernetes.io/region`. */
  readonly region?: string;
  readonly cpu?: string;
  readonly memory?: string;
}

export interface KubeCluster {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly server: string;
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  addNodes(nodes: readonly FakeNode[]): Promise<void>;
  /** Creates a namespace and waits for its default ServiceAccount (Pods need it). */
  createNamespace(name: string): Promise<void>;
  /** Log of one component (etcd, apiserver, scheduler, controller-manager, kwok), for failure messages. */
  logOf(component: string): string;
  stop(): Promise<void>;
}

/**
 * Builds the binaries when missing (about 10 minutes on 2 cores, once per
 * machine; `npm test` has set-up build them first), saying so.
 */
export async function ensureKubeBinaries(): Promise<string> {
  const missing = k8sBuild.k8sMissing();
  if (missing.length === 0) return k8sBuild.K8S_BIN_DIR;
  process.stderr.write(`[kube test] ${missing.join(", ")} missing from ${k8sBuild.K8S_BIN_DIR}: building them (node scripts/k8s.cjs)...\n`);
  // Not spawnSync: the build takes minutes and the test worker must keep answering vitest meanwhile.
  const child = spawn(process.execPath, [join(ROOT, "scripts/k8s.cjs")], { stdio: ["ignore", "inherit", "inherit"] });
  const code = await new Promise<number | null>((done) => {
    child.on("error", () => done(-1));
    child.on("exit", (c) => done(c));
  });
  if (code !== 0) throw new Error(`building the Kubernetes control plane failed (node scripts/k8s.cjs exited ${code}); see ~/.cache/falplane/logs/k8s-*.log`);
  return k8sBuild.K8S_BIN_DIR;
}

export async function startKubeCluster(): Promise<KubeCluster> {
  const bin = await ensureKubeBinaries();
  const dir = mkdtempSync(join(tmpdir(), "falplane-kube-"));
  const procs: ChildProcess[] = [];
  let stopped = false;
  /** For the exit hook: SIGKILL to every group, synchronously. */
  const killNow = () => {
    for (const p of procs) signalGroup(p, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // The reverse of the start order: kwok and the controllers before the apiserver, etcd last.
    for (const p of [...procs].reverse()) {
      signalGroup(p, "SIGTERM");
      await exitOf(p, 5000);
      signalGroup(p, "SIGKILL");
    }
    process.off("exit", killNow);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", killNow);
  const logs = join(dir, "logs");
  mkdirSync(logs);
  const run = (name: string, file: string, args: string[]) => {
    const out = createWriteStream(join(logs, `${name}.log`));
    const p = spawn(file, args, { cwd: dir, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    p.stdout!.pipe(out);
    p.stderr!.pipe(out);
    procs.push(p);
    return p;
  };
  const logOf = (name: string) => {
    const f = join(logs, `${name}.log`);
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").slice(-40).join("\n") : "";
  };

  try {
    const pki = join(dir, "pki");
    mkdirSync(pki);
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: pki, stdio: ["ignore", "ignore", "pipe"] });
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt");
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver", "-keyout", "apiserver.key", "-out", "apiserver.csr");
    writeFileSync(join(pki, "san.ext"), "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n");
    ssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30", "-extfile", "san.ext", "-out", "apiserver.crt");
    ssl("genrsa", "-out", "sa.key", "2048");
    ssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
    const token = randomBytes(16).toString("hex");
    writeFileSync(join(pki, "tokens.csv"), `${token},admin,admin,system:masters\n`);

    const [etcdPort, etcdPeer, etcdMetrics, apiPort, schedPort, cmPort, kwokPort] = await distinctFreePorts(7);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{name: local, cluster: {server: "${server}", certificate-authority: "${join(pki, "ca.crt")}"}}]`,
        `users: [{name: admin, user: {token: "${token}"}}]`,
        "contexts: [{name: local, context: {cluster: local, user: admin}}]",
        "current-context: local",
        "",
      ].join("\n"),
    );

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    run("etcd", join(bin, "etcd"), [
      "--name", "test", "--data-dir", join(dir, "etcd"),
      "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl,
      "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl, "--initial-cluster", `test=${peerUrl}`,
      "--listen-metrics-urls", `http://127.0.0.1:${etcdMetrics}`, "--quota-backend-bytes", "1073741824",
      "--unsafe-no-fsync",
    ]);
    run("apiserver", join(bin, "kube-apiserver"), [
      "--etcd-servers", etcdUrl, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
      "--secure-port", String(apiPort), "--tls-cert-file", join(pki, "apiserver.crt"), "--tls-private-key-file", join(pki, "apiserver.key"),
      "--client-ca-file", join(pki, "ca.crt"), "--token-auth-file", join(pki, "tokens.csv"), "--authorization-mode", "Node,RBAC",
      "--service-cluster-ip-range", "10.0.0.0/24", "--service-account-key-file", join(pki, "sa.pub"),
      "--service-account-signing-key-file", join(pki, "sa.key"), "--service-account-issuer", "https://kubernetes.default.svc",
      "--allow-privileged=true", "--enable-priority-and-fairness=false", "--endpoint-reconciler-type", "none",
      // Its own key prefix: should another test's etcd win the race for the port picked above, the clusters still never mix.
      "--etcd-prefix", `/registry-${token.slice(0, 12)}`,
    ]);
    const ca = readFileSync(join(pki, "ca.crt"));
    await waitFor("kube-apiserver /readyz", 120_000, () => getOk(`${server}/readyz`, ca, token), () => logOf("apiserver") || logOf("etcd"));
    const auth = ["--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1"];
    run("scheduler", join(bin, "kube-scheduler"), [...auth, "--secure-port", String(schedPort)]);
    run("controller-manager", join(bin, "kube-controller-manager"), [
      ...auth, "--secure-port", String(cmPort),
      "--service-account-private-key-file", join(pki, "sa.key"), "--root-ca-file", join(pki, "ca.crt"), "--use-service-account-credentials=false",
      "--controllers", "*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
    ]);
    run("kwok", join(bin, "kwok"), [
      "--kubeconfig", kubeconfig, "--config", STAGES, "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--cidr=10.0.0.1/24", "--node-ip=10.0.0.1", "--server-address", `127.0.0.1:${kwokPort}`,
    ]);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    // A component that lost its port to another process exits: say so rather than test against someone else's.
    const names = ["etcd", "apiserver", "scheduler", "controller-manager", "kwok"];
    const checkAlive = () => {
      for (const [i, name] of names.entries()) {
        const p = procs[i];
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${name} exited (${p.exitCode ?? p.signalCode}):\n${logOf(name)}`);
      }
    };
    checkAlive();

    const cluster: KubeCluster = {
      dir,
      kubeconfig,
      server,
      kc,
      core,
      logOf,
      stop,
      async addNodes(nodes) {
        for (const n of nodes) {
          const resources: Record<string, string> = { cpu: n.cpu ?? "32", memory: n.memory ?? "256Gi", pods: "110" };
          if (n.gpus) resources["nvidia.com/gpu"] = String(n.gpus);
          const labels: Record<string, string> = { type: "kwok", "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux" };
          if (n.gpuType) labels["falplane.dev/machine-type"] = n.gpuType;
          if (n.region) labels["topology.kubernetes.io/region"] = n.region;
          await core.createNode({
            body: {
              metadata: { name: n.name, labels, annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" } },
              spec: { taints: [{ key: "kwok.x-k8s.io/node", value: "fake", effect: "NoSchedule" }] },
              // Nodes may carry their status on create; kwok keeps this allocatable.
              status: { allocatable: resources, capacity: resources, nodeInfo: { architecture: "amd64", kubeletVersion: "fake", operatingSystem: "linux" } as k8s.V1NodeSystemInfo, phase: "Running" },
            },
          });
        }
        checkAlive();
        // kwok marks each node Ready (node-initialize); the scheduler places Pods only on Ready nodes.
        await waitFor("kwok to mark the fake nodes Ready", 60_000, async () => {
          const list = await core.listNode();
          return nodes.every((n) => list.items.find((x) => x.metadata?.name === n.name)?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
        }, () => logOf("kwok"));
      },
      async createNamespace(name) {
        await core.createNamespace({ body: { metadata: { name } } });
        // The ServiceAccount controller creates `default`; admission refuses Pods until it exists.
        await waitFor(`the default ServiceAccount of namespace ${name}`, 60_000, async () => {
          try {
            await core.readNamespacedServiceAccount({ name: "default", namespace: name });
            return true;
          } catch {
            return false;
          }
        }, () => logOf("controller-manager"));
      },
    };
    return cluster;
  } catch (err) {
    const detail = `\n--- apiserver ---\n${logOf("apiserver")}\n--- etcd ---\n${logOf("etcd")}`;
    await stop();
    throw new Error(`${err instanceof Error ? err.message : err}${detail}`);
  }
}

/** `n` distinct free ports (freePort alone can hand out the same port twice). */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function getOk(url: string, ca: Buffer, token: string): Promise<boolean> {
  return new Promise((done) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on("error", () => done(false));
    req.on("timeout", () => req.destroy());
  });
}

/** Polls `check` until it is true; fails after timeoutMs with the log that says why. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean | undefined> | boolean | undefined, log?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${log ? `\n${log()}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function signalGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    // Gone already.
  }
}

/** Resolves when the process has exited, or after ms. */
function exitOf(p: ChildProcess, ms: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    p.once("exit", () => {
      clearTimeout(timer);
      done();
    });
  });
}
