/**
 * The Platform component (components/Platform.ts) with the real engine and
 * the real Kubernetes provider (pulumi-resource-kubernetes v4.32.0, built by
 * scripts/pulumi-kubernetes.cjs) against a real control plane
 * (test/helpers/kube.ts: etcd, kube-apiserver, scheduler, controller-manager,
 * kwok playing the kubelet of fake nodes, so the platform's Pods become Ready
 * without running). The program is the example stack,
 * examples/platform-on-kubernetes/index.ts. `pulumi up` creates the objects
 * (read back through the Kubernetes API), the admin key is a secret in the
 * state and nowhere in it in plain text, a second preview changes nothing
 * (the key is generated once), and `pulumi destroy` removes everything.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { KWOK_TOLERATION, startKubeCluster, type KubeCluster } from "../helpers/kube";
import { createTestProject, REPO, type TestProject } from "../helpers/project";
import { NODE_RULES, RUNNER_ROLE_RULES, resolvePlatformSettings } from "../../components/Platform";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const plugin = require("../../scripts/pulumi-kubernetes.cjs") as { PULUMI_KUBERNETES_BIN_DIR: string; pulumiKubernetesMissing(): boolean };

const NS = "fp-test";
const RUNNER_NS = "fp-test-runners";
const REPLICAS = 3;
const DATABASE_PASSWORD = "s3cret-Pw-7Qx2";
const DATABASE_URL = `postgres://falplane:${DATABASE_PASSWORD}@db.internal:5432/falplane`;
/** The Pulumi engine's marker of a secret value in state files. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Builds the provider plugin when missing (about 11 minutes once per machine; `npm test`'s set-up does it first), saying so. */
function ensurePluginBuilt(): string {
  if (!plugin.pulumiKubernetesMissing()) return plugin.PULUMI_KUBERNETES_BIN_DIR;
  process.stderr.write(`[platform test] pulumi-resource-kubernetes missing from ${plugin.PULUMI_KUBERNETES_BIN_DIR}: building it (node scripts/pulumi-kubernetes.cjs)...\n`);
  const r = spawnSync(process.execPath, [join(REPO, "scripts/pulumi-kubernetes.cjs")], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`building pulumi-resource-kubernetes failed (exit ${r.status}); see ~/.cache/falplane/logs/pulumi-kubernetes-*.log`);
  return plugin.PULUMI_KUBERNETES_BIN_DIR;
}

/** The HTTP status of a failed Kubernetes API call, or undefined when it succeeded. */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

/** The stack's current state file, parsed (the checkpoint the backend keeps for it). */
function stateOf(project: TestProject, stackName: string): { checkpoint: { latest?: { resources?: Array<Record<string, any>> } } } {
  const stacks = join(project.stateDir, ".pulumi", "stacks");
  const find = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const f = find(p);
        if (f) return f;
      } else if (e.name === `${stackName}.json`) return p;
    }
    return undefined;
  };
  const file = find(stacks);
  if (!file || !existsSync(file)) throw new Error(`no state file for stack ${stackName} under ${stacks}`);
  return JSON.parse(readFileSync(file, "utf8"));
}

describe("resolvePlatformSettings (the constructor's validation)", () => {
  const base = { databaseUrl: DATABASE_URL };
  it("fills in the defaults", () => {
    const s = resolvePlatformSettings("falplane", base);
    expect(s).toMatchObject({ namespace: "falplane", runnerNamespace: "falplane-runners", replicas: 2, port: 8787, serviceType: "ClusterIP", owner: "local", createNamespaces: true });
  });
  it("quotes the property and its value, and never a secret", () => {
    expect(() => resolvePlatformSettings("falplane", { ...base, replicas: 0 })).toThrow("Platform 'falplane': replicas must be a whole number >= 1, got 0");
    expect(() => resolvePlatformSettings("falplane", { ...base, port: 70000 })).toThrow("port must be a whole number from 1 to 65535, got 70000");
    expect(() => resolvePlatformSettings("falplane", { ...base, namespace: "Bad_NS" })).toThrow('namespace must be a Kubernetes namespace name (lowercase letters, digits and hyphens, at most 63 characters), got "Bad_NS"');
    expect(() => resolvePlatformSettings("falplane", { ...base, serviceType: "Ingress" as never })).toThrow('serviceType must be one of ClusterIP, NodePort, LoadBalancer, got "Ingress"');
    expect(() => resolvePlatformSettings("falplane", { ...base, machineTypes: ["GPU-X1"] })).toThrow('machineTypes: "GPU-X1" is not a machine type');
    expect(() => resolvePlatformSettings("falplane", { ...base, resources: { limits: { memory: "lots" } } })).toThrow('resources.limits.memory must be a Kubernetes quantity such as "500m" or "1Gi", got "lots"');
    expect(() => resolvePlatformSettings("Fal_Plane", base)).toThrow('the resource name "Fal_Plane" names the Deployment and Service');
    const secretUrl = "mysql://root:hunter2@db";
    expect(() => resolvePlatformSettings("falplane", { databaseUrl: secretUrl })).toThrow("databaseUrl must be a postgres:// or postgresql:// connection string (the value is a secret and not shown)");
    try {
      resolvePlatformSettings("falplane", { databaseUrl: secretUrl });
    } catch (err) {
      expect(String(err)).not.toContain("hunter2");
    }
    expect(() => resolvePlatformSettings("falplane", { ...base, adminKey: "no-colon" })).toThrow("adminKey must look like key_id:secret (the value is a secret and not shown)");
  });
});

describe("Platform component: pulumi up and destroy on a real control plane", () => {
  let cluster: KubeCluster | undefined;
  let project: TestProject | undefined;
  let destroyed = false;
  const stackName = "cluster";

  beforeAll(async () => {
    const pluginDir = ensurePluginBuilt();
    cluster = await startKubeCluster();
    // kwok nodes carry a NoSchedule taint: the example's `tolerations` config lets the platform's Pods on them.
    await cluster.addNodes([{ name: "kwok-cpu-0" }, { name: "kwok-cpu-1" }]);
    project = await createTestProject({
      stackName,
      program: join(REPO, "examples", "platform-on-kubernetes", "index"),
      pluginDirs: [pluginDir],
      env: { KUBECONFIG: cluster.kubeconfig },
    });
    const cfg = project.stack;
    await cfg.setConfig("databaseUrl", { value: DATABASE_URL, secret: true });
    await cfg.setConfig("namespace", { value: NS });
    await cfg.setConfig("replicas", { value: String(REPLICAS) });
    await cfg.setConfig("image", { value: "falplane:test" });
    await cfg.setConfig("tolerations", { value: JSON.stringify([KWOK_TOLERATION]) });
  }, 40 * 60_000);

  afterAll(async () => {
    if (project && !destroyed) await project.stack.destroy().catch(() => undefined);
    await cluster?.stop();
    await project?.remove();
  }, 300_000);

  it("pulumi up creates the Deployment, Service, RBAC and Secret; the admin key is a secret output", async () => {
    const up = await project!.stack.up();
    expect(up.summary.result).toBe("succeeded");

    // Outputs.
    expect(up.outputs.url.value).toBe(`http://falplane.${NS}.svc.cluster.local:8787`);
    expect(up.outputs.namespace.value).toBe(NS);
    expect(up.outputs.runnerNamespace.value).toBe(RUNNER_NS);
    expect(up.outputs.adminKey.secret).toBe(true);
    const adminKey = up.outputs.adminKey.value as string;
    expect(adminKey).toMatch(/^[0-9a-f]{16}:[A-Za-z0-9_-]{43}$/);

    const kc = cluster!.kc;
    const core = cluster!.core;
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api);

    // Namespaces.
    expect((await core.readNamespace({ name: NS })).status?.phase).toBe("Active");
    expect((await core.readNamespace({ name: RUNNER_NS })).status?.phase).toBe("Active");

    // The Deployment: N replicas, all Ready (kwok), running the Kubernetes backend with env from the Secret.
    const dep = await apps.readNamespacedDeployment({ name: "falplane", namespace: NS });
    expect(dep.spec?.replicas).toBe(REPLICAS);
    expect(dep.status?.readyReplicas).toBe(REPLICAS);
    const pod = dep.spec!.template.spec!;
    expect(pod.serviceAccountName).toBe("falplane");
    const container = pod.containers[0];
    expect(container.image).toBe("falplane:test");
    expect(container.command).toEqual([
      "falctl", "platform", "start", "--host", "0.0.0.0", "--port", "8787", "--data-dir", "/var/lib/falplane", "--owner", "local",
      "--backend", "kubernetes", "--kube-namespace", RUNNER_NS, "--kube-instance", "falplane",
    ]);
    expect(container.readinessProbe?.httpGet?.path).toBe("/health");
    const envNames = (container.env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef?.key]);
    expect(envNames).toEqual([["DATABASE_URL", "DATABASE_URL"], ["FALPLANE_BOOTSTRAP_KEY", "FALPLANE_BOOTSTRAP_KEY"]]);
    const secretName = container.env![0].valueFrom!.secretKeyRef!.name!;
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: "app.kubernetes.io/instance=falplane" });
    expect(pods.items.length).toBe(REPLICAS);
    expect(pods.items.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))).toBe(true);

    // The Service in front of them.
    const svc = await core.readNamespacedService({ name: "falplane", namespace: NS });
    expect(svc.spec?.type).toBe("ClusterIP");
    expect(svc.spec?.ports?.map((p) => [p.port, p.targetPort])).toEqual([[8787, "http"]]);
    expect(svc.spec?.selector).toEqual({ "app.kubernetes.io/name": "falplane", "app.kubernetes.io/instance": "falplane" });

    // The Secret: the database URL and the same admin key as the output.
    const secret = await core.readNamespacedSecret({ name: secretName, namespace: NS });
    const decode = (v: string | undefined) => Buffer.from(v ?? "", "base64").toString("utf8");
    expect(decode(secret.data?.DATABASE_URL)).toBe(DATABASE_URL);
    expect(decode(secret.data?.FALPLANE_BOOTSTRAP_KEY)).toBe(adminKey);

    // RBAC: the Role's rules, and what the ServiceAccount may do as the apiserver decides it.
    const role = await rbac.readNamespacedRole({ name: "falplane-runners", namespace: RUNNER_NS });
    expect(role.rules?.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs }))).toEqual(RUNNER_ROLE_RULES);
    const binding = await rbac.readNamespacedRoleBinding({ name: "falplane-runners", namespace: RUNNER_NS });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "falplane", namespace: NS }]);
    const user = `system:serviceaccount:${NS}:falplane`;
    const may = async (verb: string, resource: string, namespace?: string) =>
      (await authz.createSubjectAccessReview({ body: { spec: { user, groups: ["system:serviceaccounts"], resourceAttributes: { verb, resource, namespace } } } })).status?.allowed ?? false;
    for (const verb of RUNNER_ROLE_RULES[0].verbs) expect([verb, await may(verb, "pods", RUNNER_NS)]).toEqual([verb, true]);
    expect(await may("list", "events", RUNNER_NS)).toBe(true);
    expect(await may("watch", "nodes")).toBe(NODE_RULES[0].verbs.includes("watch"));
    // Nowhere else, and nothing else.
    expect(await may("create", "pods", NS)).toBe(false);
    expect(await may("create", "pods", "default")).toBe(false);
    expect(await may("get", "secrets", RUNNER_NS)).toBe(false);
    expect(await may("delete", "nodes")).toBe(false);

    // The state: the admin key output is a secret; neither it nor the database URL is anywhere in plain text.
    const state = stateOf(project!, stackName);
    const stackRes = state.checkpoint.latest!.resources!.find((r) => r.type === "pulumi:pulumi:Stack")!;
    expect(stackRes.outputs.adminKey[SECRET_SIG]).toBeDefined();
    expect(stackRes.outputs.adminKey.ciphertext).toEqual(expect.any(String));
    const text = project!.stateText();
    const secretParts = [adminKey, adminKey.split(":")[1], DATABASE_PASSWORD];
    for (const part of secretParts) {
      for (const form of [part, Buffer.from(part).toString("base64")]) expect(text.includes(form)).toBe(false);
    }
    expect(text.includes(Buffer.from(DATABASE_URL).toString("base64"))).toBe(false);
  }, 900_000);

  it("a second preview changes nothing; a new database URL replaces the Secret and rolls the Deployment, with the same admin key", async () => {
    const preview = await project!.stack.preview();
    expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

    const apps = cluster!.kc.makeApiClient(k8s.AppsV1Api);
    const secretOf = async () => {
      const dep = await apps.readNamespacedDeployment({ name: "falplane", namespace: NS });
      return dep.spec!.template.spec!.containers[0].env![0].valueFrom!.secretKeyRef!.name!;
    };
    const before = await secretOf();
    const keyBefore = (await project!.stack.outputs()).adminKey.value;
    const newUrl = DATABASE_URL.replace("db.internal", "db2.internal");
    await project!.stack.setConfig("databaseUrl", { value: newUrl, secret: true });
    const up = await project!.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges?.replace).toBe(1);
    expect(up.outputs.adminKey.value).toBe(keyBefore);
    const after = await secretOf();
    expect(after).not.toBe(before);
    const secret = await cluster!.core.readNamespacedSecret({ name: after, namespace: NS });
    expect(Buffer.from(secret.data!.DATABASE_URL, "base64").toString("utf8")).toBe(newUrl);
    expect(await statusOf(cluster!.core.readNamespacedSecret({ name: before, namespace: NS }))).toBe(404);
  }, 600_000);

  it("pulumi destroy removes everything it created", async () => {
    const down = await project!.stack.destroy();
    destroyed = true;
    expect(down.summary.result).toBe("succeeded");
    const apps = cluster!.kc.makeApiClient(k8s.AppsV1Api);
    const rbac = cluster!.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const core = cluster!.core;
    // The provider waits for a namespace to be gone before it reports it deleted.
    expect(await statusOf(core.readNamespace({ name: NS }))).toBe(404);
    expect(await statusOf(core.readNamespace({ name: RUNNER_NS }))).toBe(404);
    const left = await apps.listDeploymentForAllNamespaces({ labelSelector: "app.kubernetes.io/instance=falplane" });
    expect(left.items).toEqual([]);
    const clusterRoles = await rbac.listClusterRole({ labelSelector: "app.kubernetes.io/instance=falplane" });
    expect(clusterRoles.items).toEqual([]);
    const bindings = await rbac.listClusterRoleBinding({ labelSelector: "app.kubernetes.io/instance=falplane" });
    expect(bindings.items).toEqual([]);
    const state = stateOf(project!, stackName);
    expect(state.checkpoint.latest?.resources ?? []).toEqual([]);
  }, 600_000);
});
