/**
 * The alias of an app in one environment: which revision the app's endpoint
 * serves, its auth mode and its runtime-tunable scaling. FalApp creates one,
 * `<name>-alias`, next to the app's Revision; how it deploys (and why live
 * scaling survives a deploy) is in src/providers/appAliasProvider.ts.
 *
 * Its type token stays `falplane:App` (`pulumi-nodejs:dynamic/falplane:App`
 * in a preview) although the TypeScript name is AppAlias: the token is part
 * of the URN of every alias in existing stacks' state, and a new token would
 * replace them all (delete, then create: downtime for every app).
 */
import * as pulumi from "@pulumi/pulumi";
import { appAliasProvider, type AppAliasProps } from "../src/providers/appAliasProvider";
import type { ConnectionProps } from "../src/providers/connection";
import type { ResolvedConnection } from "./connection";

/** What an AppAlias is made of: the provider's props, each one a Pulumi input, with the connection resolved. */
export type AppAliasArgs = {
  readonly [K in Exclude<keyof AppAliasProps, keyof ConnectionProps>]: pulumi.Input<AppAliasProps[K]>;
} & {
  readonly connection: ResolvedConnection;
};

export class AppAlias extends pulumi.dynamic.Resource {
  /** `owner/app` in main, `owner/app--env` elsewhere. */
  declare readonly endpointId: pulumi.Output<string>;
  /** The revision the alias serves after this deploy. */
  declare readonly revisionId: pulumi.Output<string>;

  constructor(name: string, args: AppAliasArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...props } = args;
    super(
      appAliasProvider,
      name,
      {
        ...props,
        platformUrl: connection.platformUrl,
        apiKey: connection.apiKey,
        // Outputs of the provider, declared so that they show on the resource.
        endpointId: undefined,
        alias: undefined,
        liveScaling: undefined,
      },
      { ...opts, additionalSecretOutputs: ["apiKey"] },
      "falplane",
      "App",
    );
  }
}
