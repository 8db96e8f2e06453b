import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HostStep, Value } from "../lib/plan";
import { refsOf, renderCommand, renderStdin, shQuote, stepBundle, stepTriggers } from "../lib/plan";
import type { HostHandle } from "./hosts";

export interface SshAccess {
  user: string;
  port: number;
  privateKey: pulumi.Output<string>;
}

/**
 * Turns plan steps into `command.remote.Command` resources. It resolves the plan's references
 * (`address:db1`, `secret:replPassword`, ...) to Pulumi outputs, keeps secrets on stdin only,
 * and wires each step after the steps it depends on. One instance serves every component so
 * cross-component dependencies (seeding after both nodes' bootstrap) are real resource edges.
 */
export class StepRunner {
  private readonly values = new Map<string, pulumi.Input<string>>();
  private readonly resources = new Map<string, pulumi.Resource[]>();
  readonly commands = new Map<string, command.remote.Command>();
  /** stepId → the step ids its resource was made to depend on (inspected by tests). */
  readonly edges = new Map<string, string[]>();

  constructor(
    private readonly hosts: (name: string) => HostHandle,
    private readonly ssh: SshAccess,
    /** The owning component's name: each command is `<prefix>-<step id>`, so two clusters in one stack never collide. */
    private readonly prefix: string,
  ) {}

  /** Makes a reference resolvable (`secret:*` values must be secret outputs). */
  provide(ref: string, value: pulumi.Input<string>): void {
    this.values.set(ref, value);
  }

  /** Makes `waitFor` names resolvable to resources (e.g. EFS mount targets). */
  provideResources(name: string, resources: pulumi.Resource[]): void {
    this.resources.set(name, resources);
  }

  private resolve(v: Value): pulumi.Output<string> {
    if (typeof v === "string") return pulumi.output(v);
    if ("ref" in v) {
      const r = v.ref;
      if (r.startsWith("address:")) return this.hosts(r.slice("address:".length)).address;
      const found = this.values.get(r);
      if (found === undefined) throw new Error(`plan reference ${r} has no value`);
      return pulumi.output(found);
    }
    return pulumi.all(v.join.map((x) => this.resolve(x))).apply((parts) => parts.join(v.sep));
  }

  private resolveAll(env: Record<string, Value>): pulumi.Output<Record<string, string>> {
    const keys = Object.keys(env);
    return pulumi.all(keys.map((k) => this.resolve(env[k]))).apply((vals) => Object.fromEntries(keys.map((k, i) => [k, vals[i]])));
  }

  run(step: HostStep, parent: pulumi.Resource): command.remote.Command {
    for (const [k, v] of Object.entries(step.env)) {
      if (refsOf(v).some((r) => r.startsWith("secret:")))
        throw new Error(`step ${step.id}: ${k} holds a secret and must go in secretEnv (stdin), not on the command line`);
    }
    const host = this.hosts(step.host);
    const bundle = stepBundle(step);
    const sudo = this.ssh.user !== "root";
    const create = this.resolveAll(step.env).apply((e) => renderCommand(step, e, sudo));
    const stdin = pulumi.secret(this.resolveAll(step.secretEnv).apply((s) => renderStdin(step, s, bundle)));

    const deps: pulumi.Resource[] = [];
    for (const d of step.dependsOn) {
      const c = this.commands.get(d);
      if (!c) throw new Error(`step ${step.id}: dependency ${d} has not been created`);
      deps.push(c);
    }
    for (const w of step.waitFor) {
      const rs = this.resources.get(w);
      if (!rs) throw new Error(`step ${step.id}: nothing provides ${w}`);
      deps.push(...rs);
    }
    if (host.instance) deps.push(host.instance);

    const id = step.id.replace(/\//g, "-");
    const connection = {
      host: host.connectHost,
      port: this.ssh.port,
      user: this.ssh.user,
      privateKey: this.ssh.privateKey,
      // A new instance's sshd may take a minute to come up: retry instead of failing.
      dialErrorLimit: 40,
      perDialTimeout: 15,
    };
    const cmd = new command.remote.Command(
      `${this.prefix}-${id}`,
      {
        connection,
        // Non-secret parameters only; the script and secrets travel on stdin.
        create,

        stdin,
        // Script (and generated file) hashes: a change re-runs the step.
        triggers: stepTriggers(step),
        addPreviousOutputInEnv: false,
        logging: "stdoutAndStderr",
      },
      // Earlier versions named it by the step id alone: the alias keeps such a stack's commands.
      { parent, dependsOn: deps, aliases: [{ name: id }] },
    );
    // What `pulumi destroy` runs, in a resource of its own whose inputs never change: a
    // replacement of the step (a new bundle, a rotated token) never runs it; destroy does,
    // before the step it depends on is forgotten.
    if (step.deleteCommand) {
      new command.remote.Command(
        `${this.prefix}-${id}-on-destroy`,
        {
          connection,
          create: "true",
          delete: `${sudo ? "sudo -n " : ""}sh -c ${shQuote(step.deleteCommand)}`,
          addPreviousOutputInEnv: false,
          logging: "stdoutAndStderr",
        },
        { parent, dependsOn: [cmd] },
      );
    }
    this.commands.set(step.id, cmd);
    this.edges.set(step.id, [...step.dependsOn]);
    return cmd;
  }
}
