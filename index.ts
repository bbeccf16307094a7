/**
 * The infra program: deploys the apps of `stacks/apps.<stack>.yaml` onto the
 * platform named by stack config. `pulumi preview` is the deploy check;
 * `pulumi up --stack <stack>` deploys.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment, FalApp, Secret, Strategy } from "./components";
import { loadStackSpec, SpecError } from "./src/model/appSpec";
import { kebabCase } from "./src/model/catalog";

const config = new pulumi.Config("falplane");
const specFile = config.get("appsFile") ?? `stacks/apps.${pulumi.getStack()}.yaml`;

let spec;
try {
  spec = loadStackSpec(specFile);
} catch (err) {
  // A RunError prints its message without a stack trace: the message says what to fix.
  throw err instanceof SpecError ? new pulumi.RunError(err.message) : err;
}

const environment =
  spec.environment === "main"
    ? undefined
    : new Environment(spec.environment, {}, { protect: spec.protectEnvironment ?? false });

// Secrets of the environment: names in the spec, values from secret stack config
//   pulumi config set --secret --path 'falplane:secrets.HF_TOKEN' <value>
const secretValues = spec.secrets.length ? config.requireSecretObject<Record<string, string>>("secrets") : undefined;
const secrets = spec.secrets.map(
  (name) =>
    new Secret(
      name,
      {
        environment: spec.environment,
        value: secretValues!.apply((all) => {
          if (typeof all?.[name] !== "string") {
            throw new pulumi.RunError(`secret ${name} is listed in ${specFile} but has no value: pulumi config set --secret --path 'falplane:secrets.${name}' <value>`);
          }
          return all[name];
        }),
      },
      { dependsOn: environment ? [environment] : [] },
    ),
);

const apps = spec.apps.map((app) => {
  const className = app.source.split("::")[1];
  const name = app.name ?? kebabCase(className);
  return new FalApp(
    name,
    {
      source: app.source,
      name: app.name,
      root: app.root,
      environment: spec.environment,
      authMode: app.authMode,
      strategy: app.strategy ? Strategy.of(app.strategy) : undefined,
      machineTypes: app.machineTypes ?? app.machineType,
      numGpus: app.numGpus,
      regions: app.regions,
      scaling: app.scaling,
      resetScale: app.resetScale,
      message: app.message,
      requirements: app.requirements,
      pythonVersion: app.pythonVersion,
      noCache: app.noCache,
      pinRevision: app.pinRevision,
      rolloutTrigger: app.rolloutTrigger,
      forceRollout: app.forceRollout,
      revisionHistoryLimit: app.revisionHistoryLimit,
    },
    // Secrets first, so a first deploy's runners start with them.
    { dependsOn: [...(environment ? [environment] : []), ...secrets] },
  );
});

export const endpoints = Object.fromEntries(apps.map((a) => [a.appName, a.endpointId]));
export const revisions = Object.fromEntries(apps.map((a) => [a.appName, a.revisionId]));
/** The deploy check of each app, as `pulumi preview` printed it. */
export const deployChecks = Object.fromEntries(apps.map((a) => [a.appName, a.deployCheck]));
