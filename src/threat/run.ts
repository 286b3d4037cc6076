/**
 * The real demonstration runner: runs a node:test file in a child process (`node --import tsx --test`).
 * `name` is a literal substring of the test (or suite) title, not a regular expression, so titles such as
 * "(a) a second encoding" select what they say. A demonstration passes only when at least one test ran and none
 * failed: a name that matches nothing (typo, renamed test) fails instead of passing with every test skipped.
 *
 * @example
 * ```ts
 * import { nodeTestRunner } from './run.js'
 * const run = nodeTestRunner({ cwd: process.cwd() })
 * // (await run({ test: 'src/threat/analyze.test.ts' })).ok
 * ```
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { DemonstrationRunner } from './check.js'

/**
 * A demonstration taking longer than this fails (it is a test, not a benchmark). Generous: the adversarial property
 * test of the contracts (2,000 random steps) takes ~3.5 min on 2 busy cores. `souk threat check --demo-timeout`.
 */
export const DEMONSTRATION_TIMEOUT_MS = 600_000
const OUTPUT_TAIL_CHARS = 4000

/** The `--test-name-pattern` that matches `name` literally (node reads the pattern as a regular expression). */
export function literalNamePattern(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/** The number of passed tests in the spec reporter's summary (`ℹ pass N`), or undefined if there is none. */
export function passedCount(output: string): number | undefined {
  const m = [...output.matchAll(/^\S*\s*pass (\d+)\s*$/gm)].at(-1)
  return m ? Number(m[1]) : undefined
}

export function nodeTestRunner(opts: { cwd: string; timeoutMs?: number }): DemonstrationRunner {
  return (demo, o = {}) => new Promise((done) => {
    const file = resolve(opts.cwd, demo.test)
    if (!existsSync(file)) return done({ ok: false, output: `demonstration file not found: ${demo.test} (relative to ${opts.cwd})` })
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', ...(demo.name ? ['--test-name-pattern', literalNamePattern(demo.name)] : []), file]
    // A runner started from inside node:test inherits NODE_TEST_CONTEXT, which would make the child report to the
    // parent instead of exiting non-zero on failure; the demonstration must run as a standalone test process.
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT
    const limit = opts.timeoutMs ?? DEMONSTRATION_TIMEOUT_MS
    const child = spawn(process.execPath, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal, timeout: limit })
    let out = ''
    const keep = (b: Buffer) => { out = (out + b.toString()).slice(-OUTPUT_TAIL_CHARS) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', (e) => done({ ok: false, output: `${out}\n${e.message}` }))
    child.on('close', (code, sig) => {
      if (code === null) return done({ ok: false, output: `${out}\nstopped by ${sig}: the demonstration ran longer than ${limit / 1000} s (raise it with --demo-timeout) or was interrupted` })
      if (code !== 0) return done({ ok: false, output: out })
      const passed = passedCount(out)
      if (!passed) return done({ ok: false, output: `${out}\nno test ran${demo.name ? ` (no test title in ${demo.test} contains ${JSON.stringify(demo.name)})` : ''}: a demonstration must run at least one passing test` })
      done({ ok: true, output: out })
    })
  })
}
