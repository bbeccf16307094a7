/**
 * The platform itself, installed on a Kubernetes cluster: N replicas of
 * `falctl platform start` sharing one PostgreSQL (several processes of one
 * database share the queue and never serve a request twice), a Service in
 * front of them, and a ServiceAccount whose Role lets the platform manage
 * runner Pods in the runner namespace, and nowhere else (plus reading nodes,
 * cluster-wide, for their GPUs). The Deployment runs the Kubernetes runner
 * backend (`--backend kubernetes`, src/platform/runners/kubernetes).
 *
 * The database URL and the first admin key live in a Kubernetes Secret and, in
 * the stack's state, only as Pulumi secrets. The first admin key is generated
 * once (kept in the state, encrypted) unless `adminKey` brings one; the
 * platform creates it on its first start against an empty database. With the
 * outputs `url` and `adminKey` the same or another stack deploys apps onto it:
 *
 *   const platform = new Platform("falplane", { databaseUrl: cfg.requireSecret("databaseUrl") });
 *   new FalApp("text-to-ascii", { source: "...", platform: { url: platform.url, apiKey: platform.adminKey } });
 *
 * Children are created with the component's Kubernetes provider (pass
 * `providers: [k8sProvider]` or `provider` in the options); without one, the
 * ambient kubeconfig is used. docs/operations.md, "Installing the platform on
 * Kubernetes with the Platform component", walks through it.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as k8sTypes from "@pulumi/kubernetes";
import { MACHINE_TYPE_NAMES } from "../src/model/catalog";

/** Kubernetes Service types the platform's Service may have. */
export const PLATFORM_SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer"] as const;
export type PlatformServiceType = (typeof PLATFORM_SERVICE_TYPES)[number];
export const PLATFORM_PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
export type PlatformPullPolicy = (typeof PLATFORM_PULL_POLICIES)[number];

/** The port the platform listens on inside its container (`falctl platform start --port`). */
export const PLATFORM_CONTAINER_PORT = 8787;

/** Container resources in Kubernetes quantities, e.g. `{ cpu: "500m", memory: "1Gi" }`. */
export interface PlatformResources {
  readonly requests?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, string>>;
}

export interface PlatformArgs {
  /**
   * PostgreSQL connection string every replica uses (`postgres://user:pass@host:5432/db`). Required.
   * Always treated as a secret: set it with `pulumi config set --secret`; it reaches the state only encrypted.
   */
  readonly databaseUrl: pulumi.Input<string>;
  /** Namespace of the platform's Deployment, Service, Secret, ServiceAccount and Role. Default `falplane`. */
  readonly namespace?: string;
  /** Namespace runner Pods are created in; the platform's ServiceAccount may manage Pods there only. Default `<namespace>-runners`. */
  readonly runnerNamespace?: string;
  /** Create the namespaces (and delete them with the stack). Default `true`; `false` uses existing ones. */
  readonly createNamespaces?: boolean;
  /** Platform processes (pods); they share the queue through PostgreSQL. Default `2`. */
  readonly replicas?: number;
  /** Container image with `falctl` on its PATH (an image built from this repository). Default `falplane:0.1.0`. */
  readonly image?: pulumi.Input<string>;
  /** Runner image for revisions without an image of their own (`--kube-image`). Default: the platform's, `falplane-runner:latest`. */
  readonly runnerImage?: pulumi.Input<string>;
  /** The container's image pull policy. Default `IfNotPresent`. */
  readonly imagePullPolicy?: PlatformPullPolicy;
  /** Type of the Service in front of the replicas. Default `ClusterIP`. */
  readonly serviceType?: PlatformServiceType;
  /** Port of the Service (the container always listens on 8787). Default `8787`. */
  readonly port?: number;
  /** Machine types runners may be started with (`falctl platform start --machine-types`). Default: all of the platform's machine types. */
  readonly machineTypes?: readonly string[];
  /** Owner of the first admin key (`falctl platform start --owner`). Default `local`. */
  readonly owner?: string;
  /**
   * The first admin key, `key_id:secret`, when you bring one. Default: a key generated once by this
   * component (16 hex digits : 43 characters), kept in the stack's state as a secret. The platform
   * creates it on its first start against an empty database only.
   */
  readonly adminKey?: pulumi.Input<string>;
  /** Resources of each platform container. Default requests `{ cpu: "250m", memory: "512Mi" }`, limits `{ memory: "1Gi" }`. */
  readonly resources?: PlatformResources;
  /** Extra labels on every object the component creates. Default `{}`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Node labels the platform's pods must run on (e.g. CPU nodes, away from the GPUs). Default: any node. */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Taints the platform's pods tolerate. Default none. */
  readonly tolerations?: readonly k8sTypes.types.input.core.v1.Toleration[];
}

/** Every default of PlatformArgs, declared once. */
export const PLATFORM_DEFAULTS = {
  namespace: "falplane",
  replicas: 2,
  image: "falplane:0.1.0",
  imagePullPolicy: "IfNotPresent" as PlatformPullPolicy,
  serviceType: "ClusterIP" as PlatformServiceType,
  port: 8787,
  owner: "local",
  resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } } as PlatformResources,
} as const;

/**
 * Rules of the platform's Role in the runner namespace: what the Kubernetes
 * runner backend (src/platform/runners/kubernetes) does there: runner Pods,
 * their events, the anchor ConfigMap `<name>-runners` that owns them, and a
 * Service per runner with `--kube-address service`.
 */
export const RUNNER_ROLE_RULES = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete", "patch"] },
  { apiGroups: [""], resources: ["events"], verbs: ["get", "list"] },
  { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create"] },
  { apiGroups: [""], resources: ["services"], verbs: ["get", "create", "delete"] },
];
/** The cluster-wide rule: the backend watches the nodes' allocatable GPUs. */
export const NODE_RULES = [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] }];

/** Where each platform container keeps revisions' files and environments (an emptyDir). */
const DATA_DIR = "/var/lib/falplane";

export class Platform extends pulumi.ComponentResource {
  /** The platform's URL inside the cluster: `http://<name>.<namespace>.svc.cluster.local:<port>`. */
  readonly url: pulumi.Output<string>;
  /** The first admin key, `key_id:secret` (a secret). */
  readonly adminKey: pulumi.Output<string>;
  /** Namespace the platform runs in. */
  readonly namespace: pulumi.Output<string>;
  /** Namespace runner Pods are created in. */
  readonly runnerNamespace: pulumi.Output<string>;
  readonly deployment: k8sTypes.apps.v1.Deployment;
  readonly service: k8sTypes.core.v1.Service;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("falplane:index:Platform", name, {}, opts);
    const s = resolvePlatformSettings(name, args);
    // Loaded here, not at the top: the infra program imports ./components and need not load the Kubernetes SDK.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const k8s = require("@pulumi/kubernetes") as typeof k8sTypes;
    const labels = { "app.kubernetes.io/name": "falplane", "app.kubernetes.io/instance": name, ...s.labels };
    const selector = { "app.kubernetes.io/name": "falplane", "app.kubernetes.io/instance": name };

    // Namespaces: the platform's, and the runners' when it is another one.
    let namespace: pulumi.Output<string> = pulumi.output(s.namespace);
    let runnerNamespace: pulumi.Output<string> = pulumi.output(s.runnerNamespace);
    if (s.createNamespaces) {
      const ns = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: s.namespace, labels } }, { parent: this });
      namespace = ns.metadata.name;
      runnerNamespace = namespace;
      if (s.runnerNamespace !== s.namespace) {
        const rns = new k8s.core.v1.Namespace(`${name}-runner-namespace`, { metadata: { name: s.runnerNamespace, labels } }, { parent: this });
        runnerNamespace = rns.metadata.name;
      }
    }

    const adminKey: pulumi.Output<string> =
      args.adminKey !== undefined
        ? pulumi.secret(pulumi.output(args.adminKey).apply((k) => checkAdminKey(name, k)))
        : new GeneratedAdminKey(`${name}-admin-key`, { parent: this }).key;
    const databaseUrl = pulumi.secret(pulumi.output(args.databaseUrl).apply((u) => checkDatabaseUrl(name, u)));

    // Auto-named: a changed value replaces the Secret under a new name, which rolls the Deployment.
    const secret = new k8s.core.v1.Secret(
      `${name}-env`,
      {
        metadata: { namespace, labels },
        type: "Opaque",
        stringData: { DATABASE_URL: databaseUrl, FALPLANE_BOOTSTRAP_KEY: adminKey },
      },
      { parent: this, additionalSecretOutputs: ["data", "stringData"] },
    );

    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: { name, namespace, labels } }, { parent: this });
    const role = new k8s.rbac.v1.Role(
      `${name}-runners`,
      { metadata: { name: `${name}-runners`, namespace: runnerNamespace, labels }, rules: RUNNER_ROLE_RULES },
      { parent: this },
    );
    const subjects = [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace }];
    new k8s.rbac.v1.RoleBinding(
      `${name}-runners`,
      {
        metadata: { name: `${name}-runners`, namespace: runnerNamespace, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects,
      },
      { parent: this },
    );
    // Cluster-scoped, so auto-named: two installations never collide.
    const nodeRole = new k8s.rbac.v1.ClusterRole(`${name}-nodes`, { metadata: { labels }, rules: NODE_RULES }, { parent: this });
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-nodes`,
      { metadata: { labels }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: nodeRole.metadata.name }, subjects },
      { parent: this },
    );

    const fromSecret = (key: string) => ({ name: key, valueFrom: { secretKeyRef: { name: secret.metadata.name, key } } });
    const command = pulumi.all([runnerNamespace, args.runnerImage]).apply(([rns, runnerImage]) => [
      "falctl", "platform", "start",
      "--host", "0.0.0.0",
      "--port", String(PLATFORM_CONTAINER_PORT),
      "--data-dir", DATA_DIR,
      "--owner", s.owner,
      "--backend", "kubernetes",
      "--kube-namespace", rns,
      "--kube-instance", name,
      ...(runnerImage ? ["--kube-image", runnerImage] : []),
      ...(s.machineTypes ? ["--machine-types", s.machineTypes.join(",")] : []),
    ]);
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name, namespace, labels },
        spec: {
          replicas: s.replicas,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              nodeSelector: args.nodeSelector,
              tolerations: args.tolerations ? [...args.tolerations] : undefined,
              containers: [
                {
                  name: "platform",
                  image: s.image,
                  imagePullPolicy: s.imagePullPolicy,
                  command,
                  ports: [{ name: "http", containerPort: PLATFORM_CONTAINER_PORT }],
                  env: [fromSecret("DATABASE_URL"), fromSecret("FALPLANE_BOOTSTRAP_KEY")],
                  readinessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 5, failureThreshold: 3 },
                  resources: s.resources,
                  volumeMounts: [{ name: "data", mountPath: DATA_DIR }],
                },
              ],
              volumes: [{ name: "data", emptyDir: {} }],
            },
          },
        },
      },
      { parent: this },
    );

    this.service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name, namespace, labels },
        spec: { type: s.serviceType, selector, ports: [{ name: "http", port: s.port, targetPort: "http" }] },
      },
      { parent: this },
    );

    this.namespace = namespace;
    this.runnerNamespace = runnerNamespace;
    this.url = pulumi.interpolate`http://${this.service.metadata.name}.${this.service.metadata.namespace}.svc.cluster.local:${s.port}`;
    this.adminKey = pulumi.secret(adminKey);
    this.registerOutputs({ url: this.url, adminKey: this.adminKey, namespace: this.namespace, runnerNamespace: this.runnerNamespace });
  }
}

/** PlatformArgs validated, with every default filled in. */
export interface PlatformSettings {
  readonly namespace: string;
  readonly runnerNamespace: string;
  readonly createNamespaces: boolean;
  readonly replicas: number;
  readonly image: pulumi.Input<string>;
  readonly imagePullPolicy: PlatformPullPolicy;
  readonly serviceType: PlatformServiceType;
  readonly port: number;
  readonly machineTypes: readonly string[] | undefined;
  readonly owner: string;
  readonly resources: PlatformResources;
  readonly labels: Readonly<Record<string, string>>;
}

/** A Kubernetes object name usable as a Service name and DNS label (RFC 1035). */
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^[0-9.]+([eE][-+]?[0-9]+|[munkMGTPE]i?|Ki)?$/;

/**
 * Validates Platform's args and fills in the defaults; errors quote the
 * property and its value (never a secret's). Runs in the constructor, before
 * anything reaches the cluster.
 */
export function resolvePlatformSettings(name: string, args: PlatformArgs): PlatformSettings {
  const fail = (msg: string): never => {
    throw new pulumi.RunError(`Platform '${name}': ${msg}`);
  };
  const q = JSON.stringify;
  if (!DNS_LABEL.test(name) || name.length > 52) {
    fail(`the resource name ${q(name)} names the Deployment and Service: use lowercase letters, digits and hyphens, starting with a letter, at most 52 characters`);
  }
  if (args.databaseUrl === undefined || args.databaseUrl === null) fail("databaseUrl is required (a postgres:// connection string, as a secret)");
  if (typeof args.databaseUrl === "string") checkDatabaseUrl(name, args.databaseUrl);
  if (typeof args.adminKey === "string") checkAdminKey(name, args.adminKey);

  const namespace = args.namespace ?? PLATFORM_DEFAULTS.namespace;
  const nsOk = (v: string) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) && v.length <= 63;
  if (typeof namespace !== "string" || !nsOk(namespace)) {
    fail(`namespace must be a Kubernetes namespace name (lowercase letters, digits and hyphens, at most 63 characters), got ${q(namespace)}`);
  }
  const runnerNamespace = args.runnerNamespace ?? `${namespace}-runners`;
  if (typeof runnerNamespace !== "string" || !nsOk(runnerNamespace)) {
    fail(`runnerNamespace must be a Kubernetes namespace name (lowercase letters, digits and hyphens, at most 63 characters), got ${q(runnerNamespace)}`);
  }
  const replicas = args.replicas ?? PLATFORM_DEFAULTS.replicas;
  if (!Number.isInteger(replicas) || replicas < 1) fail(`replicas must be a whole number >= 1, got ${q(replicas)}`);
  const port = args.port ?? PLATFORM_DEFAULTS.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`port must be a whole number from 1 to 65535, got ${q(port)}`);
  const serviceType = args.serviceType ?? PLATFORM_DEFAULTS.serviceType;
  if (!PLATFORM_SERVICE_TYPES.includes(serviceType)) fail(`serviceType must be one of ${PLATFORM_SERVICE_TYPES.join(", ")}, got ${q(serviceType)}`);
  const imagePullPolicy = args.imagePullPolicy ?? PLATFORM_DEFAULTS.imagePullPolicy;
  if (!PLATFORM_PULL_POLICIES.includes(imagePullPolicy)) {
    fail(`imagePullPolicy must be one of ${PLATFORM_PULL_POLICIES.join(", ")}, got ${q(imagePullPolicy)}`);
  }
  const image = args.image ?? PLATFORM_DEFAULTS.image;
  if (typeof image === "string" && (image.trim() === "" || /\s/.test(image))) fail(`image must be an image reference without spaces, got ${q(image)}`);
  if (args.machineTypes !== undefined) {
    if (!Array.isArray(args.machineTypes) || args.machineTypes.length === 0) fail(`machineTypes must be a non-empty list of machine types, got ${q(args.machineTypes)}`);
    for (const m of args.machineTypes) {
      if (!MACHINE_TYPE_NAMES.includes(m)) fail(`machineTypes: ${q(m)} is not a machine type; use one of ${MACHINE_TYPE_NAMES.join(", ")}`);
    }
  }
  const owner = args.owner ?? PLATFORM_DEFAULTS.owner;
  if (typeof owner !== "string" || !/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(owner)) fail(`owner must be lowercase letters, digits and single hyphens, got ${q(owner)}`);
  const resources = args.resources ?? PLATFORM_DEFAULTS.resources;
  for (const part of ["requests", "limits"] as const) {
    for (const [k, v] of Object.entries(resources[part] ?? {})) {
      if (typeof v !== "string" || !QUANTITY.test(v)) fail(`resources.${part}.${k} must be a Kubernetes quantity such as "500m" or "1Gi", got ${q(v)}`);
    }
  }
  const labels = args.labels ?? {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== "string" || v.length > 63 || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v)) fail(`labels.${k} must be a Kubernetes label value, got ${q(v)}`);
  }
  return {
    namespace,
    runnerNamespace,
    createNamespaces: args.createNamespaces ?? true,
    replicas,
    image,
    imagePullPolicy,
    serviceType,
    port,
    machineTypes: args.machineTypes,
    owner,
    resources,
    labels,
  };
}

/** The value, when it is a PostgreSQL URL; the error never shows it (it holds a password). */
function checkDatabaseUrl(name: string, url: string): string {
  if (typeof url !== "string" || !/^postgres(ql)?:\/\/\S+$/.test(url)) {
    throw new pulumi.RunError(`Platform '${name}': databaseUrl must be a postgres:// or postgresql:// connection string (the value is a secret and not shown)`);
  }
  return url;
}

/** The value, when it looks like `key_id:secret`; the error never shows it. */
function checkAdminKey(name: string, key: string): string {
  if (typeof key !== "string" || !/^[^:\s]+:\S+$/.test(key)) {
    throw new pulumi.RunError(`Platform '${name}': adminKey must look like key_id:secret (the value is a secret and not shown)`);
  }
  return key;
}

/**
 * Generates the first admin key once, on create, like @pulumi/random's
 * RandomPassword: the key stays in the state (encrypted, as a secret output)
 * and never changes on later updates. The format is the platform's own
 * (src/platform/keys.ts): 8 random bytes in hex, `:`, 32 random bytes in base64url.
 */
const adminKeyProvider: pulumi.dynamic.ResourceProvider = {
  async create() {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { randomBytes } = require("node:crypto") as typeof import("node:crypto");
    const keyId = randomBytes(8).toString("hex");
    return { id: keyId, outs: { key: `${keyId}:${randomBytes(32).toString("base64url")}` } };
  },
  async diff() {
    return { changes: false };
  },
};

class GeneratedAdminKey extends pulumi.dynamic.Resource {
  declare readonly key: pulumi.Output<string>;
  constructor(name: string, opts: pulumi.CustomResourceOptions) {
    super(adminKeyProvider, name, { key: undefined }, { ...opts, additionalSecretOutputs: ["key"] }, "falplane", "AdminKey");
  }
}
