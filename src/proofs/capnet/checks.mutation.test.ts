/**
 * What the first mutation run of CAPnet's verify/open side found untested (docs/testing.md): the messages that name
 * the bad input, the zod issues' codes and paths, and the params memo's eviction and identity.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  describeContent, createBundle, openBundle, chunkLength, deriveOuterKey, openInnerKeys, sealInnerKeys, openCacheTicket, sealCacheTicket,
  secretCommitment, parsePuzzleParams, PuzzleParamsSchema, BundleSchema, seededRng, CapnetError, CapnetOpenError, CapnetParamsError,
} from './index.js'

const rng = seededRng('checks.mutation.test')
const thrown = (f: () => unknown): Error => {
  try { f() } catch (e) { return e as Error }
  assert.fail('expected a throw')
}

test('errors name what was wrong', () => {
  const m = { contentLength: 10, chunkSize: 4, chunkCount: 3 }
  assert.match(thrown(() => chunkLength(m, 3)).message, /^chunk index must be in \[0, 3\), got 3$/)
  assert.match(thrown(() => deriveOuterKey(rng(32), 'x' as never, 0)).message, /^requestId must be a Uint8Array/)
  assert.match(thrown(() => deriveOuterKey(rng(32), rng(16), 1.5)).message, /^chunkIndex must be an integer, got 1.5$/)
  assert.match(thrown(() => deriveOuterKey(rng(32), rng(16), -1)).message, /^chunkIndex must be in \[0, 4294967296\), got -1$/)
  const secret = rng(32)
  const e1 = thrown(() => openInnerKeys(sealInnerKeys([rng(32)], secret), rng(32)))
  assert.ok(e1 instanceof CapnetOpenError)
  assert.match(e1.message, /^Cannot open inner keys: authentication failed/)
  const ticket = sealCacheTicket(rng(32), rng(32), rng(16), 2)
  const e2 = thrown(() => openCacheTicket(ticket, rng(32), rng(16), 2))
  assert.ok(e2 instanceof CapnetOpenError)
  assert.match(e2.message, /^Cannot open cache ticket: authentication failed/)
  assert.match(thrown(() => openCacheTicket(ticket, rng(8), rng(16), 2)).message, /^cacheSecret must be at least 16 bytes, got 8$/)
  assert.match(thrown(() => secretCommitment(rng(31))).message, /^secret must be 32 bytes, got 31$/)
})

test('a bundle whose sealed keys open to the wrong count is refused as a bad bundle, by name', () => {
  const content = describeContent(rng(3 * 512), 512)
  const caches = ['a', 'b', 'c'].map((cacheId) => ({ cacheId, cacheSecret: rng(32) }))
  const requestId = rng(16)
  const { bundle, record } = createBundle({ content, chunkIndices: [0, 1, 2], caches, requestId, publisherSecret: rng(32), params: { rounds: 2, pieceSize: 16 }, rng })
  const fewer = { ...bundle, sealedInnerKeys: sealInnerKeys(record.innerKeys.slice(1), record.puzzle.secret, requestId) }
  const e = thrown(() => openBundle({ bundle: fewer, innerChunks: [rng(512), rng(512), rng(512)], secret: record.puzzle.secret }))
  assert.ok(e instanceof CapnetError)
  assert.match(e.message, /^Sealed inner keys do not match the bundle entries/)
  // the cross-field checks are zod issues of code 'custom', readable through the public schema too
  const r = BundleSchema.safeParse({ ...bundle, entries: bundle.entries.map((x) => ({ ...x, cacheId: 'same' })) })
  assert.equal(r.success, false)
  assert.deepEqual(r.error!.issues.map((i) => [i.code, i.message]), [['custom', 'entries must name different caches']])
})

test('the chunkSize-multiple rule is a custom issue at `chunkSize`', () => {
  const r = PuzzleParamsSchema.safeParse({ pieceSize: 16, chunkSize: 1000 })
  assert.equal(r.success, false)
  assert.deepEqual(r.error!.issues.map((i) => [i.code, i.path, i.message]), [['custom', ['chunkSize'], 'chunkSize (1000) must be a multiple of pieceSize (16)']])
  assert.match(thrown(() => parsePuzzleParams({ pieceSize: 16, chunkSize: 1000 })).message, /must be a multiple of pieceSize \(16\) at `chunkSize`$/m)
  const root = thrown(() => parsePuzzleParams(5))
  assert.ok(root instanceof CapnetParamsError)
  assert.equal(root.message.split('\n')[0], 'Invalid puzzle parameters - Invalid input: expected object, received number')
})

test('the params memo: not for arrays, numbers stay numbers, and what it evicts is parsed again', () => {
  assert.throws(() => parsePuzzleParams([]), CapnetParamsError, 'an array is not params (though it has no bad field)')
  parsePuzzleParams({ cachesPerRequest: 7 })
  assert.throws(() => parsePuzzleParams({ cachesPerRequest: '7' }), CapnetParamsError, 'a numeric string never hits the memo')
  assert.throws(() => parsePuzzleParams({ cachesPerRequest: [7] }), CapnetParamsError, 'nor an array that prints like the number')
  // a result is its own parse, even after the memo forgot it
  const p = parsePuzzleParams({ rounds: 5, cachesPerRequest: 5 })
  const q = parsePuzzleParams({ rounds: 6, cachesPerRequest: 5 })
  assert.equal(parsePuzzleParams({ rounds: 5, cachesPerRequest: 5 }), p, 'two entries fit in the memo')
  for (let r = 2; r < 2 + 300; r++) parsePuzzleParams({ rounds: r, cachesPerRequest: 9 }) // more than the memo holds
  assert.equal(parsePuzzleParams(p), p)
  assert.deepEqual(parsePuzzleParams({ rounds: 6, cachesPerRequest: 5 }), q)
})
