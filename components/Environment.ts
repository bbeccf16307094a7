/**
 * An environment of the platform (`staging`, `production`, ...). Apps,
 * aliases and secrets live in one environment. `main` always exists.
 *
 * Deleting an environment deletes its apps: the platform refuses while it has
 * any, and `protect: true` (the default for names other than `main` is off)
 * guards it against `pulumi destroy`.
 */
import * as pulumi from "@pulumi/pulumi";
import { environmentProvider } from "../src/providers/environmentProvider";
import { resolveConnection, type PlatformConnection } from "./connection";
import { NAME_PATTERN, NAME_RULE } from "../src/model/catalog";

export interface EnvironmentArgs {
  /** Environment name. Default: the resource name. */
  readonly name?: string;
  /** How to reach the platform. Default: stack config (see PlatformConnection). */
  readonly platform?: PlatformConnection;
}

export class Environment extends pulumi.dynamic.Resource {
  /** The environment's name. */
  declare readonly name: pulumi.Output<string>;

  constructor(name: string, args: EnvironmentArgs = {}, opts?: pulumi.CustomResourceOptions) {
    const envName = args.name ?? name;
    if (!NAME_PATTERN.test(envName)) {
      throw new pulumi.RunError(
        `Environment '${name}': name ${JSON.stringify(envName)} is not allowed; use ${NAME_RULE}`,
      );
    }
    const conn = resolveConnection(args.platform);
    super(
      environmentProvider,
      name,
      { name: envName, platformUrl: conn.platformUrl, apiKey: conn.apiKey },
      { ...opts, additionalSecretOutputs: ["apiKey"] },
      "falplane",
      "Environment",
    );
  }
}
