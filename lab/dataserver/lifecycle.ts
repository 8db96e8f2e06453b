/**
 * The stand-in data server's timings and its reaction to a database error, as measured on the
 * real server (pandora-server-facts.md): Perl start-up takes 1–2 s; with `restart 0` a database
 * error makes it shut itself down ("Shutdown by signal" in its log 0.2–0.9 s after the error) and
 * its threads take about 6.5 s to stop; a few times it died at once instead ("Perl exited with
 * active threads"). Every timing can be changed through the environment for tests (the lab's init
 * script reads /etc/default/pandora_server); the defaults are the measured ones. Pure functions.
 */

export interface Range {
  min: number;
  max: number;
}

export interface Timings {
  /** Start-up before the server daemonizes (Perl compiling its modules). */
  startupMs: Range;
  /** From the first database error to "Shutdown by signal". */
  errorDelayMs: Range;
  /** From "Shutdown by signal" (or a SIGTERM) to the process's exit: its threads stopping. */
  shutdownMs: Range;
  /** Die at once on the first database error (the real server's occasional "Perl exited with active threads"). */
  dieAtOnce: boolean;
}

export const TIMING_ENV = {
  startupMs: "PANDORA_STANDIN_STARTUP_MS",
  errorDelayMs: "PANDORA_STANDIN_ERROR_DELAY_MS",
  shutdownMs: "PANDORA_STANDIN_SHUTDOWN_MS",
  dieAtOnce: "PANDORA_STANDIN_DIE_AT_ONCE",
} as const;

export const DEFAULT_TIMINGS: Timings = {
  startupMs: { min: 1000, max: 2000 },
  errorDelayMs: { min: 200, max: 900 },
  shutdownMs: { min: 6500, max: 6500 },
  dieAtOnce: false,
};

/** "N" or "MIN-MAX" (milliseconds, MIN <= MAX); throws otherwise. */
export function parseRange(text: string, what: string): Range {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?$/.exec(text);
  if (!m) throw new Error(`${what} '${text}' is not N or MIN-MAX (milliseconds)`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (max < min) throw new Error(`${what} '${text}': MAX is below MIN`);
  return { min, max };
}

export function timingsFromEnv(env: Record<string, string | undefined>): Timings {
  const range = (k: "startupMs" | "errorDelayMs" | "shutdownMs") => {
    const v = env[TIMING_ENV[k]];
    return v === undefined || v === "" ? DEFAULT_TIMINGS[k] : parseRange(v, TIMING_ENV[k]);
  };
  const die = env[TIMING_ENV.dieAtOnce];
  return { startupMs: range("startupMs"), errorDelayMs: range("errorDelayMs"), shutdownMs: range("shutdownMs"), dieAtOnce: !!die && die !== "0" };
}

/** A value of the range, `rnd` in [0, 1). */
export function pick(r: Range, rnd: number = Math.random()): number {
  return r.min + (r.max - r.min) * rnd;
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED", "ER_CON_COUNT_ERROR", "ER_QUERY_INTERRUPTED",
]);

/**
 * Is this error the database going away (refused, lost, killed, shut down), as opposed to an
 * error of one statement (a missing table, a read-only server refusing a write), which the
 * real server's consumers swallow and carry on after?
 */
export function isDatabaseDown(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const err = e as { fatal?: boolean; code?: string; message?: string };
  if (err.fatal) return true;
  if (err.code && CONNECTION_CODES.has(err.code)) return true;
  return /closed state|connection lost|not connected/i.test(err.message ?? "");
}

export type ErrorReaction = "shutdown" | "die" | "restart";

/**
 * What the server does on its first database error: with `restart 1` it restarts itself after
 * restart_delay; with `restart 0` it shuts down slowly, or (dieAtOnce) dies at once.
 */
export function reactionToDbError(restart: boolean, t: Timings): ErrorReaction {
  if (restart) return "restart";
  return t.dieAtOnce ? "die" : "shutdown";
}
