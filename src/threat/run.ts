/**
 * The real demonstration runner: runs a node:test file in a child process (`node --import tsx --test`).
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

/** A demonstration taking longer than this fails (it is a test, not a benchmark). */
export const DEMONSTRATION_TIMEOUT_MS = 120_000
const OUTPUT_TAIL_CHARS = 4000

export function nodeTestRunner(opts: { cwd: string; timeoutMs?: number }): DemonstrationRunner {
  return (demo, o = {}) => new Promise((done) => {
    const file = resolve(opts.cwd, demo.test)
    if (!existsSync(file)) return done({ ok: false, output: `demonstration file not found: ${demo.test} (relative to ${opts.cwd})` })
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', ...(demo.name ? ['--test-name-pattern', demo.name] : []), file]
    // A runner started from inside node:test inherits NODE_TEST_CONTEXT, which would make the child report to the
    // parent instead of exiting non-zero on failure; the demonstration must run as a standalone test process.
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT
    const child = spawn(process.execPath, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal, timeout: opts.timeoutMs ?? DEMONSTRATION_TIMEOUT_MS })
    let out = ''
    const keep = (b: Buffer) => { out = (out + b.toString()).slice(-OUTPUT_TAIL_CHARS) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', (e) => done({ ok: false, output: `${out}\n${e.message}` }))
    child.on('close', (code) => done({ ok: code === 0, output: out }))
  })
}
