/**
 * pandora-ha: reads the stack configuration and builds one PandoraHaCluster. Nothing else.
 * Validation runs first: a bad stack stops here, before any resource is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { PandoraHaCluster } from "./components/cluster";
import { parseConfig } from "./lib/config";

// Which keys the user set with --secret (the SDK's own check; not in its type declarations).
const isSecret = (pulumi.runtime as unknown as { isConfigSecret(k: string): boolean }).isConfigSecret;
const all = pulumi.runtime.allConfig();
const config = parseConfig(all, Object.keys(all).filter((k) => isSecret(k)));
const cluster = new PandoraHaCluster("pandora-ha", { config });

export const dbNodes = cluster.dbNodes;
export const servers = cluster.servers;
export const haHosts = cluster.haHosts;
export const tentacleEndpoint = cluster.tentacleEndpoint;
export const agentConfig = cluster.agentConfig;
export const consoleConfig = cluster.consoleConfig;
export const sshCommands = cluster.sshCommands;
export const sshPrivateKey = cluster.sshPrivateKey;
export const tentaclePassword = cluster.tentaclePassword;
export const hostSteps = cluster.plan.map((s) => `${s.host}: ${s.id}`);
