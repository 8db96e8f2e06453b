/**
 * The fault campaign, short: about 3 minutes of seeded faults (bench/chaos.ts) under the keyed
 * writer, each repaired and followed by a bounded wait for the cluster to converge. Nothing
 * acknowledged may be lost, two nodes may never be writable at once, and every fault must end
 * with exactly one writable node, named by pandora_ha_hosts.conf, every other one replicating
 * from it.
 */
import { describe, expect, test } from "vitest";
import { chaosTable, runChaos } from "../../bench/chaos";
import { requireLabMachine } from "./helpers";

/** The seed of the short run: the same seed draws the same faults in the same order. */
export const SHORT_SEED = 8;
/**
 * One of each kind the campaign knows, chosen so the run fits in about 3 minutes. Not the site
 * partition: with two nodes and one server host, a master on the far site is cut off from
 * everything the daemon sees, so it is promoted away from while it still shows read_only = 0 to
 * a client on this machine (it acknowledges nothing: strict semi-sync) until the heal; that is
 * the two-daemon site split of the monitoring issue, measured by the bench (BENCHMARKS.md). The
 * full binary-log volume is in: the stalled master is stopped and failed over, and once space is
 * back it rejoins from what its binary log files hold (its crash recovery reports a stale GTID
 * state), its unacknowledged tail, if any, archived and undone.
 */
export const SHORT_FAULTS = ["crash-master", "blip-master", "semisync-fallback", "daemon-kill@promote", "cut-daemon-master", "hang-replica", "isolate-replica", "disk-full-master"];

describe("the fault campaign", () => {
  test(`seed ${SHORT_SEED}, 3 minutes: nothing lost, never two writable nodes, every fault converged`, async () => {
    await requireLabMachine();
    const r = await runChaos({ minutes: 3, seed: SHORT_SEED, faults: SHORT_FAULTS, convergeMs: 45_000, log: (l) => process.stdout.write(`${l}\n`) });
    process.stdout.write(`\n${chaosTable(r)}\n`);
    expect(r.results.length).toBeGreaterThan(0);
    expect(r.acked).toBeGreaterThan(0);
    expect(r.lost).toBe(0);
    expect(r.twoWritableMs).toBe(0);
    expect(r.results.filter((x) => !x.converged).map((x) => `#${x.n} ${x.fault}: ${x.why}`)).toEqual([]);
  }, 480_000);
});
