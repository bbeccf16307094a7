/**
 * The infra program: deploys the apps of `stacks/apps.<stack>.yaml` onto the
 * platform named by stack config. `pulumi preview` is the deploy check;
 * `pulumi up --stack <stack>` deploys.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment, FalApp, Secret, Strategy } from "./components";
import { appNameFor } from "./components/FalApp";
import { loadStackSpec, SpecError } from "./src/model/appSpec";

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

// The spec's app fields are FalApp's args (FalAppArgs is derived from the spec's type);
// only the strategy (a name here, a Strategy there) and the machine type fields differ.
// The spec's name, else the class's app_name, else the class name in kebab case.
const names = spec.apps.map((app) => appNameFor(app));
names.forEach((name, i) => {
  const j = names.indexOf(name);
  if (j < i) throw new pulumi.RunError(`${specFile}: apps[${j}] (${spec.apps[j].source}) and apps[${i}] (${spec.apps[i].source}) are both named ${JSON.stringify(name)} (set by their classes' app_name or class names); set 'name:' on one of them in the spec`);
});

const apps = spec.apps.map(({ strategy, machineType, machineTypes, ...app }, i) =>
  new FalApp(
    names[i],
    {
      ...app,
      environment: spec.environment,
      strategy: strategy ? Strategy.of(strategy) : undefined,
      machineTypes: machineTypes ?? machineType,
    },
    // Secrets first, so a first deploy's runners start with them.
    { dependsOn: [...(environment ? [environment] : []), ...secrets] },
  ),
);

export const endpoints = Object.fromEntries(apps.map((a) => [a.appName, a.endpointId]));
export const revisions = Object.fromEntries(apps.map((a) => [a.appName, a.revisionId]));
/** The deploy check of each app, as `pulumi preview` printed it. */
export const deployChecks = Object.fromEntries(apps.map((a) => [a.appName, a.deployCheck]));
