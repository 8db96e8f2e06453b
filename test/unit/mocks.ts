/**
 * The Pulumi mock engine for unit tests: records every registered resource with its inputs
 * and answers the few invokes the program makes. Nothing here talks to AWS or a Pulumi CLI.
 */
import * as pulumi from "@pulumi/pulumi";

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

let counter = 0;

/** Outputs a real provider would add to the inputs, per resource type. */
function outputsFor(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  const n = ++counter;
  switch (type) {
    case "aws:ec2/instance:Instance":
      return { privateIp: `10.42.0.${10 + n}`, publicIp: `198.51.100.${10 + n}`, availabilityZone: "eu-west-1a", arn: `arn:${name}` };
    case "tls:index/privateKey:PrivateKey":
      return {
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\nMOCKKEY${name}\n-----END OPENSSH PRIVATE KEY-----\n`,
        publicKeyOpenssh: `ssh-ed25519 AAAAMOCK${n}\n`,
      };
    case "random:index/randomPassword:RandomPassword":
      return { result: `generatedPw${n}${name.replace(/[^A-Za-z]/g, "")}` };
    case "aws:efs/fileSystem:FileSystem":
      return { dnsName: "fs-0123abcd.efs.eu-west-1.amazonaws.com", arn: `arn:${name}` };
    case "aws:lb/loadBalancer:LoadBalancer":
      return { dnsName: "pandora-ha-tentacle-0123.elb.eu-west-1.amazonaws.com", arn: `arn:${name}` };
    case "aws:lb/targetGroup:TargetGroup":
      return { arn: `arn:${name}` };
    case "aws:ec2/keyPair:KeyPair":
      return { keyName: name };
    default:
      return {};
  }
}

/** The invokes (data-source lookups) of the last program run under installMocks: token and inputs. */
export const invokes: Array<{ token: string; inputs: Record<string, any> }> = [];

/** The CIDR the mocked aws.ec2.getVpc answers for any given VPC. */
export const MOCK_VPC_CIDR = "10.7.0.0/16";

export function installMocks(stack = "dev"): Registered[] {
  const registered: Registered[] = [];
  counter = 0;
  invokes.length = 0;
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        const id = args.type.startsWith("aws:ebs/volume") ? `vol-0${(counter++).toString(16).padStart(16, "a")}` : `${args.name}-id`;
        return { id, state: { ...args.inputs, ...outputsFor(args.type, args.name, args.inputs) } };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        invokes.push({ token: args.token, inputs: args.inputs });
        switch (args.token) {
          case "aws:ec2/getVpc:getVpc":
            return { id: args.inputs.id, cidrBlock: MOCK_VPC_CIDR };
          case "aws:ec2/getAmi:getAmi":
            return { id: "ami-0mock", imageId: "ami-0mock", name: args.inputs.filters?.[0]?.values?.[0] ?? "" };
          case "aws:index/getAvailabilityZones:getAvailabilityZones":
            return { names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"], zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3"] };
          default:
            throw new Error(`unmocked invoke ${args.token}`);
        }
      },
    },
    "pandora-ha",
    stack,
    false,
  );
  return registered;
}

/** Resolves an Output's value (undefined during preview-like unknowns). */
export function valueOf<T>(o: pulumi.Output<T> | T): Promise<T> {
  if (pulumi.Output.isInstance(o)) return new Promise((r) => (o as pulumi.Output<T>).apply((v) => r(v)));
  return Promise.resolve(o as T);
}

/** Lets pending registrations settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** The stack config a test passes to setAllConfig: values as Pulumi stores them. */
export function stackConfig(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [`pandora-ha:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}
