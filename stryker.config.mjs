// Mutation testing of the trust-boundary code (docs/testing.md). Run it with `npm run mutate [-- <area>...]`;
// scripts/mutate.ts passes the chosen areas in SOUK_MUTATE_AREAS (comma-separated; empty = every area).
//
// Each area names the code it mutates and the node:test files that may kill its mutants. Stryker's TAP runner runs
// each test file as `node --import tsx <file>` (node:test prints TAP), so coverage is per file: a mutant runs only
// the files that executed it. Selected functions (not whole files) are given as line ranges found from their
// declarations at run time, so the ranges follow the code as it changes.
import { readFileSync } from 'node:fs'

/**
 * `file:start-end` covering each named top-level declaration of `file` (`function NAME`, `const NAME`, `class
 * NAME`, exported or not): from its line to the last non-blank line before the next top-level statement or comment.
 */
function ranges(file, names) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n')
  const topLevel = /^(export|function|async|const|let|class|type|interface|import|\/\*|\/\/)/
  return names.map((name) => {
    const decl = new RegExp(`^(export )?(async )?(function|const|class) ${name}\\b`)
    const start = lines.findIndex((l) => decl.test(l))
    if (start < 0) throw new Error(`stryker.config.mjs: no declaration of ${name} in ${file}`)
    let next = start + 1
    while (next < lines.length && !topLevel.test(lines[next])) next++
    let end = next - 1
    while (end > start && lines[end].trim() === '') end--
    return `${file}:${start + 1}-${end + 1}`
  })
}

const capnet = 'src/proofs/capnet/'
export const areas = {
  // The binary and JSON codecs: size caps, tag decoding, header length, schema validation.
  codec: {
    mutate: ['src/net/codec.ts'],
    tests: ['src/net/*.mutation.test.ts', 'src/net/codec.test.ts'],
  },
  // CAPnet's verify/open side: what a client, a cache or the publisher runs on bytes it did not make.
  capnet: {
    mutate: [
      ...ranges(`${capnet}content.ts`, ['chunkLength', 'merkleLeaf', 'merkleNode', 'verifyMerkleProof']),
      ...ranges(`${capnet}keys.ts`, ['requestContext', 'secretKey', 'aeadOpen', 'openInnerKeys', 'openCacheTicket', 'secretCommitment', 'verifySecretCommitment']),
      ...ranges(`${capnet}puzzle.ts`, ['verifySolution', 'verifySecretAgainstGoal', 'pieceIndexOf', 'lastStepSlot', 'checkChunks', 'solvePuzzle']),
      ...ranges(`${capnet}bundle.ts`, ['serveChunk', 'openBundle', 'bytes', 'BundleSchema', 'parseBundle']),
      ...ranges(`${capnet}params.ts`, ['PuzzleParamsSchema', 'memoKeyOf', 'parsePuzzleParams']),
      ...ranges(`${capnet}hash.ts`, ['bytesEqual', 'abytes', 'aint']),
    ],
    tests: [`${capnet}*.mutation.test.ts`, `${capnet}*.test.ts`],
  },
  // The payees: what accepts a payment and books it as received (run all three as `payees`).
  'lottery-payee': {
    mutate: ['src/payments/lottery/payee.ts'],
    tests: ['src/payments/lottery/*.mutation.test.ts', 'src/payments/lottery/payee.test.ts', 'src/payments/payments.test.ts', 'test/crash/payee-crash.test.ts'],
  },
  'channel-payee': {
    mutate: ['src/payments/channel/payee.ts'],
    tests: ['src/payments/channel/*.mutation.test.ts', 'src/payments/channel/*.test.ts', 'src/payments/payments.test.ts'],
  },
  'microcash-server': {
    mutate: ['src/payments/microcash/server.ts'],
    tests: ['src/payments/microcash/*.mutation.test.ts', 'src/payments/microcash/scheme.test.ts', 'src/payments/microcash/contract.test.ts', 'src/payments/payments.test.ts'],
  },
  // The contracts' TypeScript twins (run both as `twins`): the model the property tests check the contracts
  // against, and microcash's off-chain ticket, Merkle and permutation code that must agree with ConcurrentLottery.
  model: {
    mutate: ['test/contracts/model.ts'],
    // Not invariants.test.ts (~4 min a run): every survivor would run it, and model.mutation.test.ts checks the same
    // model against the contracts call by call (measured: 26 equivalent survivors would add ~2 hours, kill nothing).
    tests: ['test/contracts/*.mutation.test.ts', 'test/contracts/regressions.test.ts'],
  },
  'microcash-ticket': {
    mutate: ['src/payments/microcash/ticket.ts'],
    tests: ['src/payments/microcash/*.mutation.test.ts', 'src/payments/microcash/ticket.test.ts', 'src/payments/microcash/contract.test.ts', 'test/contracts/vectors.test.ts'],
  },
}
/** Names for several areas at once. */
export const groups = {
  payees: ['lottery-payee', 'channel-payee', 'microcash-server'],
  twins: ['model', 'microcash-ticket'],
}

const chosen = (process.env.SOUK_MUTATE_AREAS ?? '').split(',').filter(Boolean).flatMap((a) => groups[a] ?? [a])
for (const a of chosen) if (!(a in areas)) throw new Error(`stryker.config.mjs: unknown area ${a} (areas: ${Object.keys(areas).join(', ')})`)
const selected = chosen.length ? [...new Set(chosen)] : Object.keys(areas)
// Runs of different areas may go on side by side: each keeps its own reports, incremental file and sandboxes.
// SOUK_MUTATE_RUN names a run over part of an area (`--mutate file:lines`), so that its results are kept apart.
const runName = process.env.SOUK_MUTATE_RUN ?? (chosen.length ? selected.join('+') : 'all')

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    testFiles: [...new Set(selected.flatMap((a) => areas[a].tests))],
    // The sandbox's TypeScript is transpiled to JavaScript beside it first (buildCommand), and each test file runs as
    // plain JavaScript: no module hook, so a process starts ~2.5 s of CPU faster than with tsx (measured here).
    nodeArgs: ['--test-reporter=tap', '-r', '{{hookFile}}', 'scripts/run-js.mjs', '{{testFile}}'],
    forceBail: true,
  },
  mutate: selected.flatMap((a) => areas[a].mutate),
  buildCommand: 'node scripts/mutate-build.mjs',
  coverageAnalysis: 'perTest',
  // Reuse the results of mutants whose code and covering test files did not change since the last run of the same
  // areas (`npm run mutate -- <area> --force` reruns them all).
  incremental: true,
  incrementalFile: `reports/mutation/incremental-${runName}.json`,
  // Other work shares the machine's two cores.
  concurrency: 1,
  // Generous: on a loaded machine a test file can take several times its dry-run time, and a mutant that merely ran
  // slowly must not count as detected ("timed out" counts as killed in the score).
  timeoutMS: 90_000,
  timeoutFactor: 3,
  // The sandbox is a copy of the tree without these (node_modules is linked, not copied).
  ignorePatterns: ['.stryker-tmp', '.souk', '.scratch', 'reports', '*.sqlite*', '/tmp', '.doc-example-*', 'bench/results'],
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${runName}.html` },
  jsonReporter: { fileName: `reports/mutation/${runName}.json` },
  thresholds: { high: 95, low: 90, break: null },
  // Stryker rewrites the sandbox's tsconfig.json through TypeScript's JS API, which TypeScript 7 (native) no longer
  // has; our tsconfig has no `extends` or `references` to rewrite, so point the rewriter at a file that is not there.
  tsconfigFile: 'tsconfig.stryker-none.json',
  tempDirName: `.stryker-tmp/${runName}`,
  cleanTempDir: true,
}
