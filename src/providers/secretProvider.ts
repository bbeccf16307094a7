/**
 * Dynamic provider of one secret of an environment. The value is a secret
 * input and output (encrypted in state); the platform keeps it and gives it
 * to runners as an environment variable when they start.
 */
import type * as pulumi from "@pulumi/pulumi";
import { clientFor, type ConnectionProps } from "./connection";

export interface SecretProps extends ConnectionProps {
  readonly environment: string;
  readonly name: string;
  readonly value: string;
}

export const secretProvider: pulumi.dynamic.ResourceProvider<SecretProps, SecretProps> = {
  async diff(_id, olds, news) {
    const replaces = ["environment", "name"].filter((k) => olds[k as keyof SecretProps] !== news[k as keyof SecretProps]);
    const changes = replaces.length > 0 || olds.value !== news.value;
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async create(inputs) {
    await clientFor(inputs).setSecret(inputs.name, inputs.value, inputs.environment);
    return { id: `${inputs.environment}/${inputs.name}`, outs: inputs };
  },
  async update(_id, _olds, news) {
    await clientFor(news).setSecret(news.name, news.value, news.environment);
    return { outs: news };
  },
  async read(id, props) {
    const names = await clientFor(props!).listSecrets(props!.environment);
    return names.some((n) => n.name === props!.name) ? { id, props } : { id: "", props };
  },
  async delete(_id, props) {
    try {
      await clientFor(props).unsetSecret(props.name, props.environment);
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
  },
};
