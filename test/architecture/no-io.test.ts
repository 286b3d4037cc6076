/**
 * Roles do no I/O of their own (issue 9, item 3): the protocol layers (payments, proofs, the exchange, services,
 * the market) never read the wall clock, set raw timers, draw unseeded randomness, touch the file system or the
 * process. They get a `Clock`, an `Rng`, stores and a `Logger`; only `src/node` and `src/cli` create the system ones.
 *
 * Every source file under those folders is scanned. Test files (`*.test.ts`) are composition roots like `src/node`:
 * they may open temp directories, read vectors, spawn child processes and read `SOUK_TEST_*` variables, so of the
 * forbidden forms they are held only to the two that make a test irreproducible, `Date.now(` and `Math.random(`
 * (a test wanting the system clock or rng imports `systemClock` / `systemRng`). Any other file that must keep a
 * match is listed in `EXCEPTIONS` with its reason; nothing is allowed silently, and an exception that no longer
 * matches fails too.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const SCANNED = ['src/payments', 'src/proofs', 'src/exchange', 'src/services', 'src/market']
const FORBIDDEN: { name: string; re: RegExp }[] = [
  { name: 'Date.now(', re: /\bDate\.now\(/ },
  { name: 'setTimeout(', re: /\bsetTimeout\(/ },
  { name: 'setInterval(', re: /\bsetInterval\(/ },
  { name: 'Math.random(', re: /\bMath\.random\(/ },
  { name: 'randomBytes', re: /\brandomBytes\b/ },
  { name: 'performance.now(', re: /\bperformance\.now\(/ },
  { name: "from 'node:fs'", re: /from\s+['"](node:)?fs(\/promises)?['"]/ },
  { name: 'process.', re: /\bprocess\./ },
]

/** `path` (from the repository root) → the forbidden names it may keep, each with the reason. */
const EXCEPTIONS: Record<string, { allow: string[]; reason: string }> = {
  'src/payments/microcash/testing/issuer-worker.ts': {
    allow: ['process.'],
    reason: "a child process's entry point for issuer.test.ts's crash test: it reads its argv and writes its tickets to stdout",
  },
  'src/payments/lottery/mutation-fixtures.ts': {
    allow: ["from 'node:fs'"],
    reason: "the lottery payee mutation tests' shared setup (test-only): a temporary folder for their SQLite files",
  },
}
/** What test files are held to (see above). */
const IN_TESTS = new Set(['Date.now(', 'Math.random('])

function files(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    if (d.isDirectory()) return files(p)
    return /\.(ts|mts|js)$/.test(d.name) && !d.name.endsWith('.d.ts') ? [p] : []
  })
}

/** The code of a line without its `//` comment (block comments and strings are kept: a mention in a doc comment counts). */
const code = (line: string) => line.replace(/(^|[^:'"`])\/\/.*$/, '$1')

test('no wall clock, raw timers, unseeded randomness, fs or process in payments, proofs, exchange, services, market (tests: no Date.now, no Math.random)', () => {
  const found: string[] = []
  const used = new Set<string>()
  for (const dir of SCANNED) {
    for (const f of files(dir)) {
      const rel = relative(root, join(root, f))
      const allowed = EXCEPTIONS[rel]?.allow ?? []
      const isTest = rel.endsWith('.test.ts')
      readFileSync(join(root, f), 'utf8').split('\n').forEach((line, i) => {
        const c = code(line)
        if (/^\s*(\*|\/\*\*?)/.test(c)) return // doc comments describe; they do not run
        for (const { name, re } of FORBIDDEN) {
          if (!re.test(c) || (isTest && !IN_TESTS.has(name))) continue
          if (allowed.includes(name)) { used.add(`${rel} ${name}`); continue }
          found.push(`${rel}:${i + 1}: ${name}    ${line.trim().slice(0, 120)}`)
        }
      })
    }
  }
  assert.deepEqual(found, [], `I/O inside the protocol layers (inject a Clock, an Rng, a store or a Logger instead):\n${found.join('\n')}`)
  const stale = Object.entries(EXCEPTIONS).flatMap(([f, e]) => e.allow.filter((n) => !used.has(`${f} ${n}`)).map((n) => `${f}: ${n}`))
  assert.deepEqual(stale, [], 'exceptions that no longer match: remove them')
})

test('the scan catches each forbidden form (a file written with them is reported)', () => {
  const sample = ["const t = Date.now()", "setTimeout(f, 1)", "setInterval(f, 1)", "Math.random()", "import { randomBytes } from 'node:crypto'",
    "performance.now()", "import { readFileSync } from 'node:fs'", "process.env.X"]
  for (const [i, line] of sample.entries()) assert.ok(FORBIDDEN[i].re.test(code(line)), `${FORBIDDEN[i].name} is caught in: ${line}`)
  assert.ok(!FORBIDDEN.some((f) => f.re.test(code('const x = clock.now() // not Date.now()'))), 'a trailing // comment is not code')
})
