import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { forkRng, randomBelow, seededRng, systemRng, type Rng } from './rng.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const draws = (rng: Rng, sizes: number[]) => sizes.map((n) => hex(rng(n)))

test('seededRng: SHA-256 counter mode over the seed, the same bytes for the same seed however they are drawn', () => {
  const block = (seed: string, i: number) => {
    const c = Buffer.alloc(4); c.writeUInt32BE(i)
    return createHash('sha256').update('souk/capnet/seeded-rng/v1').update(seed).update(c).digest('hex')
  }
  assert.equal(hex(seededRng('s')(64)), block('s', 0) + block('s', 1))
  // Draw sizes do not change the stream: 3 + 29 + 40 bytes are the first 72 bytes.
  assert.equal(draws(seededRng('s'), [3, 29, 40]).join(''), hex(seededRng('s')(72)))
  assert.equal(hex(seededRng(new TextEncoder().encode('s'))(32)), block('s', 0))
  assert.notEqual(hex(seededRng('t')(32)), block('s', 0))
})

test('forkRng: same seed and label, same bytes; other labels or seeds, other streams', () => {
  const sizes = [1, 31, 64, 5]
  assert.deepEqual(draws(forkRng(seededRng('root'), 'cache-1'), sizes), draws(forkRng(seededRng('root'), 'cache-1'), sizes))
  const seen = new Set<string>()
  for (const seed of ['root', 'root2']) {
    for (const l of ['cache-1', 'cache-2', 'publisher', '', 'cache-10']) seen.add(hex(forkRng(seededRng(seed), l)(32)))
  }
  seen.add(hex(seededRng('root')(32)))
  assert.equal(seen.size, 11)
  // The spec: the child is seededRng(SHA-256("souk/rng/fork/v1" ‖ u32be(|seed|) ‖ seed ‖ label)).
  const len = Buffer.alloc(4); len.writeUInt32BE(4)
  const childSeed = createHash('sha256').update('souk/rng/fork/v1').update(len).update('root').update('cache-1').digest()
  assert.equal(hex(forkRng(seededRng('root'), 'cache-1')(40)), hex(seededRng(childSeed)(40)))
  // Forks nest, and a grandchild differs from its parent and from a sibling's child of the same label.
  const a = forkRng(seededRng('root'), 'a'), b = forkRng(seededRng('root'), 'b')
  const aa = hex(forkRng(a, 'x')(32)), bx = hex(forkRng(b, 'x')(32))
  assert.equal(aa, hex(forkRng(forkRng(seededRng('root'), 'a'), 'x')(32)))
  assert.notEqual(aa, bx)
  assert.notEqual(aa, hex(forkRng(seededRng('root'), 'a')(32)))
})

test('forkRng of a seeded stream does not disturb the parent, and forks may be made in any order', () => {
  const sizes = [4, 32, 7, 100]
  const plain = draws(seededRng('p'), sizes)
  const parent = seededRng('p')
  const out: string[] = []
  let c1 = ''
  for (const [i, n] of sizes.entries()) {
    if (i === 1) c1 = hex(forkRng(parent, 'child-1')(16))
    out.push(hex(parent(n)))
    forkRng(parent, `child-${i + 2}`)(64)
  }
  assert.deepEqual(out, plain)
  // Made late, after the parent drew 143 bytes, the same child: forks depend on the seed, not on the position.
  assert.equal(hex(forkRng(parent, 'child-1')(16)), c1)
})

test('forkRng of a non-seeded parent draws 32 bytes from it once; a CSPRNG parent gives fresh streams', () => {
  const parent = seededRng('custom')
  let drawn = 0
  const custom: Rng = (n) => { drawn += n; return parent(n) }
  const child = forkRng(custom, 'c')
  assert.equal(drawn, 32)
  child(100)
  assert.equal(drawn, 32)
  // Deterministic when the custom parent is: the same 32 bytes and label give the same child.
  const again = seededRng('custom')
  assert.equal(hex(forkRng((n) => again(n), 'c')(16)), hex(forkRng((n) => seededRng('custom')(n), 'c')(16)))
  assert.notEqual(hex(forkRng(systemRng, 'c')(32)), hex(forkRng(systemRng, 'c')(32)))
})

test('randomBelow: in range, unbiased enough, and bounds checked', () => {
  const rng = seededRng('below')
  const counts = new Array(6).fill(0)
  for (let i = 0; i < 6000; i++) counts[randomBelow(rng, 6)]++
  for (const c of counts) assert.ok(c > 850 && c < 1150, `counts ${counts}`)
  assert.equal(randomBelow(rng, 1), 0)
  for (const bad of [0, 1.5, 2 ** 32 + 1, Number.NaN]) assert.throws(() => randomBelow(rng, bad), RangeError)
})
