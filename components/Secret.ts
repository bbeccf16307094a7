/**
 * A secret of an environment, set from a Pulumi secret. Runners receive it as
 * an environment variable when they start: a changed value reaches running
 * runners only through a rollout (FalApp `rolloutTrigger`, or `falctl apps rollout`).
 */
import * as pulumi from "@pulumi/pulumi";
import { secretProvider } from "../src/providers/secretProvider";
import { resolveConnection, type PlatformConnection } from "./connection";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "../src/model/catalog";

export interface SecretArgs {
  /** Environment the secret belongs to. Default `main`. */
  readonly environment?: string;
  /** Variable name runners see. Default: the resource name. */
  readonly name?: string;
  /** The value; always stored as a Pulumi secret. */
  readonly value: pulumi.Input<string>;
  /** How to reach the platform. Default: stack config. */
  readonly platform?: PlatformConnection;
}

export class Secret extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;

  constructor(name: string, args: SecretArgs, opts?: pulumi.CustomResourceOptions) {
    const varName = args.name ?? name;
    if (!SECRET_NAME_PATTERN.test(varName)) {
      throw new pulumi.RunError(
        `Secret '${name}': name ${JSON.stringify(varName)} is not allowed; use ${SECRET_NAME_RULE}`,
      );
    }
    const conn = resolveConnection(args.platform);
    super(
      secretProvider,
      `${args.environment ?? "main"}-${name}`,
      { environment: args.environment ?? "main", name: varName, value: pulumi.secret(args.value), platformUrl: conn.platformUrl, apiKey: conn.apiKey },
      { ...opts, additionalSecretOutputs: ["value", "apiKey"] },
      "falplane",
      "Secret",
    );
  }
}
