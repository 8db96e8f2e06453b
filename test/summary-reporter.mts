/**
 * Prints the plain closing line CI reads: `N passed, N failed` (and `, N skipped` when any).
 * Loaded beside vitest's default reporter by vitest.config.mts.
 *
 * A test that did not run because a hook of its file or suite failed (beforeAll, say) counts as
 * failed, not skipped; a file or suite whose own error left no test to blame (it failed to load,
 * or an afterAll failed) counts as one failure.
 */
import type { Reporter, TestModule, TestSuite } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const broken = (s: TestSuite | TestModule): boolean => s.errors().length > 0 || (s.type === "suite" && broken(s.parent));
    const containers: Array<TestSuite | TestModule> = [...testModules, ...testModules.flatMap((m) => [...m.children.allSuites()])];
    for (const c of containers) {
      if (!c.errors().length) continue;
      const tests = [...c.children.allTests()];
      if (tests.every((t) => t.result().state === "passed")) failed++;
    }
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === "passed") passed++;
        else if (s === "failed" || broken(t.parent)) failed++;
        else skipped++;
      }
    }
    failed += unhandledErrors.length;
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
  }
}
