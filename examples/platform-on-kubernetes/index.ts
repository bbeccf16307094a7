/**
 * The platform on a Kubernetes cluster, as its own stack: PostgreSQL's URL
 * from a secret config value, the cluster from the ambient kubeconfig (or
 * `kubernetes:kubeconfig` / `kubernetes:context` config), everything else
 * from optional config with the component's defaults. Its outputs `url` and
 * `adminKey` are what the apps' stack (the repo's infra program) sets as
 * `falplane:url` and `falplane:apiKey`.
 *
 *   cd examples/platform-on-kubernetes
 *   pulumi stack init cluster
 *   pulumi config set --secret databaseUrl postgres://falplane:...@db.internal:5432/falplane
 *   pulumi config set image registry.internal/falplane:0.1.0
 *   pulumi up
 *
 * docs/operations.md, "Installing the platform on Kubernetes with the Platform component".
 */
import * as pulumi from "@pulumi/pulumi";
import { Platform, type PlatformArgs } from "../../components/Platform";

const config = new pulumi.Config();
const machineTypes = config.get("machineTypes");

const args: PlatformArgs = {
  databaseUrl: config.requireSecret("databaseUrl"),
  namespace: config.get("namespace"),
  runnerNamespace: config.get("runnerNamespace"),
  replicas: config.getNumber("replicas"),
  image: config.get("image"),
  serviceType: config.get("serviceType") as PlatformArgs["serviceType"],
  port: config.getNumber("port"),
  machineTypes: machineTypes ? machineTypes.split(",").map((m) => m.trim()) : undefined,
  // Structured config, e.g. `pulumi config set --path 'nodeSelector.pool' cpu`.
  nodeSelector: config.getObject<Record<string, string>>("nodeSelector"),
  tolerations: config.getObject<NonNullable<PlatformArgs["tolerations"]>>("tolerations"),
};

const platform = new Platform(config.get("name") ?? "falplane", args);

/** In-cluster URL of the platform (set it as `falplane:url` where the cluster's DNS resolves it). */
export const url = platform.url;
/** The first admin key, `key_id:secret` (`pulumi stack output adminKey --show-secrets`). */
export const adminKey = platform.adminKey;
export const namespace = platform.namespace;
export const runnerNamespace = platform.runnerNamespace;
