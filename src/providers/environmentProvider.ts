/** Dynamic provider of an environment (`main` always exists; others are created). */
import type * as pulumi from "@pulumi/pulumi";
import { clientFor, type ConnectionProps } from "./connection";

export interface EnvironmentProps extends ConnectionProps {
  readonly name: string;
}

export const environmentProvider: pulumi.dynamic.ResourceProvider<EnvironmentProps, EnvironmentProps> = {
  async create(inputs) {
    await clientFor(inputs).createEnvironment(inputs.name);
    return { id: inputs.name, outs: inputs };
  },
  async diff(_id, olds, news) {
    const replaces = olds.name !== news.name ? ["name"] : [];
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async update(_id, _olds, news) {
    return { outs: news };
  },
  async read(id, props) {
    const envs = await clientFor(props!).listEnvironments();
    if (!envs.some((e) => e.name === id)) return { id: "", props };
    return { id, props };
  },
  async delete(id, props) {
    // `main` cannot be deleted; the resource only stops managing it.
    if (id === "main") return;
    await clientFor(props).deleteEnvironment(id, false);
  },
};
