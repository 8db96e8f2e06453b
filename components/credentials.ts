import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { SECRET_KEYS } from "../lib/config";
import type { PasswordName, SecretValue } from "../lib/config";

export interface CredentialsArgs {
  /** Passwords given in the stack config (the rest are generated). */
  given: Partial<Record<PasswordName, SecretValue>>;
  /** Generate the admin SSH key pair Pulumi connects with (aws). */
  generateAdminKey: boolean;
}

/**
 * Every secret of the deployment: the five passwords (given or generated with
 * RandomPassword), the cluster SSH key (pandora_ha → DB nodes, DB node ↔ DB node for
 * streaming), and on aws the admin key Pulumi itself connects with. All outputs are secrets.
 */
export class Credentials extends pulumi.ComponentResource {
  readonly passwords: Record<PasswordName, pulumi.Output<string>>;
  readonly clusterPrivateKey: pulumi.Output<string>;
  readonly clusterPublicKey: pulumi.Output<string>;
  readonly adminPrivateKey?: pulumi.Output<string>;
  readonly adminPublicKey?: pulumi.Output<string>;

  constructor(name: string, args: CredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pandora-ha:security:Credentials", name, {}, opts);
    const passwords = {} as Record<PasswordName, pulumi.Output<string>>;
    for (const key of SECRET_KEYS) {
      const given = args.given[key];
      passwords[key] = given
        ? pulumi.secret(given.reveal())
        : pulumi.secret(new random.RandomPassword(
            `${name}-${key}`,
            // Letters and digits only: safe in SQL literals, shell words and conf files.
            { length: 32, special: false, minLower: 2, minUpper: 2, minNumeric: 2 },
            { parent: this },
          ).result);
    }
    this.passwords = passwords;

    // @pulumi/tls keeps the key in state (encrypted as a secret), so it is stable across runs
    // and never written to disk on the operator's machine.
    const cluster = new tls.PrivateKey(`${name}-cluster-ssh`, { algorithm: "ED25519" }, { parent: this });
    this.clusterPrivateKey = pulumi.secret(cluster.privateKeyOpenssh);
    this.clusterPublicKey = cluster.publicKeyOpenssh.apply((k) => `${k.trim()} pandora-ha-cluster`);

    if (args.generateAdminKey) {
      const admin = new tls.PrivateKey(`${name}-admin-ssh`, { algorithm: "ED25519" }, { parent: this });
      this.adminPrivateKey = pulumi.secret(admin.privateKeyOpenssh);
      this.adminPublicKey = admin.publicKeyOpenssh;
    }

    this.registerOutputs({
      clusterPublicKey: this.clusterPublicKey,
      adminPublicKey: this.adminPublicKey,
    });
  }
}
