/**
 * A fenced node that does not answer (an old master cut off, then healed) is writable the moment
 * it is reachable again, until the loop's fence reaches it. The loop re-probes a failed node only
 * every ha_connect_delay; this watch closes that gap: a bare TCP connect to each such node every
 * RETURN_POLL_MS (each with a timeout), and the moment one answers (the server's handshake), `onBack(host)`, which
 * has the loop probe it (and fence it) at once. Measured on the lab: an isolated old master seen
 * writable for ~400 ms after the heal before this watch.
 */
import * as net from "node:net";

export const RETURN_POLL_MS = 50;
const CONNECT_TIMEOUT_MS = 250;
const MAX_IN_FLIGHT = Math.ceil(CONNECT_TIMEOUT_MS / RETURN_POLL_MS) + 1;

export class ReturnWatch {
  private readonly watched = new Map<string, { port: number; timer: NodeJS.Timeout; inFlight: number }>();

  constructor(
    private readonly onBack: (host: string) => void,
    private readonly localAddress?: string,
  ) {}

  /** Exactly `hosts` watched from now on (a host leaves once it answered or is no longer fenced). */
  set(hosts: Array<{ host: string; port: number }>): void {
    const want = new Set(hosts.map((h) => h.host));
    for (const h of [...this.watched.keys()]) if (!want.has(h)) this.drop(h);
    for (const { host, port } of hosts) if (!this.watched.has(host)) this.watch(host, port);
  }

  stop(): void {
    for (const h of [...this.watched.keys()]) this.drop(h);
  }

  private watch(host: string, port: number): void {
    const w = { port, inFlight: 0, timer: setInterval(() => this.poll(host), RETURN_POLL_MS) };
    w.timer.unref();
    this.watched.set(host, w);
  }

  private drop(host: string): void {
    const w = this.watched.get(host);
    if (w) clearInterval(w.timer);
    this.watched.delete(host);
  }

  /**
   * A connect every RETURN_POLL_MS, each ended at its timeout: the connects overlap (at most
   * MAX_IN_FLIGHT), so the first SYN sent after a heal is the one answered (a SYN lost in the cut
   * is retransmitted only a second later), and a silent server holds none of them up.
   */
  private poll(host: string): void {
    const w = this.watched.get(host);
    if (!w || w.inFlight >= MAX_IN_FLIGHT) return;
    w.inFlight++;
    const sock = net.connect({ host, port: w.port, localAddress: this.localAddress, timeout: CONNECT_TIMEOUT_MS });
    let ended = false;
    const done = (back: boolean) => {
      if (ended) return;
      ended = true;
      sock.destroy();
      w.inFlight--;
      if (back && this.watched.get(host) === w) {
        this.drop(host);
        this.onBack(host);
      }
    };
    // Back once the server speaks (its handshake): a stopped server's kernel still accepts TCP.
    sock.once("data", () => done(true));
    sock.once("timeout", () => done(false));
    sock.once("close", () => done(false));
    sock.once("error", () => done(false));
  }
}
