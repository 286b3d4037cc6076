/**
 * Randomness as an injected component. Protocol roles never draw random bytes themselves: they are given an
 * {@link Rng}. Only `src/node` and `src/cli` hand out the system ones ({@link systemRng}, {@link pooledSystemRng});
 * tests and the simulator pass {@link seededRng} streams, one per role or agent, split with {@link forkRng}.
 *
 * @example
 * ```ts
 * import { seededRng, forkRng, randomBelow } from './rng.js'
 * const root = seededRng('run-42')
 * const cache = forkRng(root, 'cache-1')   // its own stream: the same on every run, untouched by other forks
 * randomBelow(cache, 6)                      // a die roll, the same on every run
 * ```
 */
import * as nodeCrypto from 'node:crypto'
import { sha256Parts } from './sha256.js'

/** A source of random bytes: `rng(n)` returns `n` fresh bytes. Inject a seeded one for tests and simulations. */
export type Rng = (byteLength: number) => Uint8Array

/** node:crypto's CSPRNG, one native call per draw. */
export const systemRng: Rng = (n) => new Uint8Array(nodeCrypto.randomBytes(n))

/** Pool size of {@link pooledSystemRng}; draws above a quarter of it go straight to {@link systemRng}. */
const POOL_BYTES = 4096
let rngPool = new Uint8Array(0)
let rngPoolOff = 0
/**
 * node:crypto's CSPRNG, drawn from a 4 KiB pool refilled with `randomFillSync` (one native call per ~1 000 puzzle
 * start offsets or 128 ticket salts instead of one each). Every byte is handed out once and zeroed in the pool as it
 * is taken.
 */
export const pooledSystemRng: Rng = (n) => {
  if (n > POOL_BYTES / 4) return systemRng(n)
  if (rngPoolOff + n > rngPool.length) {
    if (rngPool.length === 0) rngPool = new Uint8Array(POOL_BYTES)
    nodeCrypto.randomFillSync(rngPool)
    rngPoolOff = 0
  }
  const out = rngPool.slice(rngPoolOff, rngPoolOff + n)
  rngPool.fill(0, rngPoolOff, rngPoolOff + n)
  rngPoolOff += n
  return out
}

const enc = new TextEncoder()
const utf8 = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? enc.encode(s) : s)
function u32be(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, n >>> 16, n >>> 8, n])
}

/**
 * Domain label of the seeded stream. It still names CAPnet, where the generator was first written: changing it would
 * change every seeded stream (and the recorded outcomes of seeded tests and simulations).
 */
const SEEDED_RNG_LABEL = utf8('souk/capnet/seeded-rng/v1')
const FORK_LABEL = utf8('souk/rng/fork/v1')
/** The seed of every stream made by {@link seededRng} or {@link forkRng} (what `forkRng` derives children from). */
const seeds = new WeakMap<Rng, Uint8Array>()

/**
 * A deterministic {@link Rng}: block i of the stream is SHA-256("souk/capnet/seeded-rng/v1" ‖ seed ‖ u32be(i)),
 * handed out in order. For tests and the simulator only: never for real puzzles, lane ids or salts, which must be
 * unpredictable.
 *
 * @example
 * ```ts
 * const rng = seededRng('test-1'); rng(4) // same 4 bytes on every run
 * ```
 */
export function seededRng(seed: string | Uint8Array): Rng {
  const s = new Uint8Array(utf8(seed))
  let counter = 0
  let pool: Uint8Array = new Uint8Array(0)
  const rng: Rng = (n) => {
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      if (pool.length === 0) pool = sha256Parts(SEEDED_RNG_LABEL, s, u32be(counter++))
      const take = Math.min(pool.length, n - off)
      out.set(pool.subarray(0, take), off)
      pool = pool.subarray(take)
      off += take
    }
    return out
  }
  seeds.set(rng, s)
  return rng
}

/**
 * An independent stream named `label`, derived from `parent`: one per role or agent, so that adding, removing or
 * reordering one of them leaves every other stream as it was.
 *
 * Spec:
 * - `parent` made by {@link seededRng} or `forkRng` (seed `s`): the child is
 *   `seededRng(SHA-256("souk/rng/fork/v1" ‖ u32be(|s|) ‖ s ‖ UTF-8(label)))`. The parent is not drawn from: its
 *   sequence is the same whether or not, when and how often it is forked, and forks may be made in any order. The
 *   same seed and label give the same child; different labels (or seeds) give unrelated children (distinct SHA-256
 *   preimages). Forks nest: `forkRng(forkRng(r, 'a'), 'b')`.
 * - any other `parent` ({@link systemRng}, {@link pooledSystemRng}, a custom function): the child is
 *   `seededRng(SHA-256("souk/rng/fork/v1" ‖ u32be(32) ‖ parent(32) ‖ UTF-8(label)))`: the parent IS drawn from,
 *   once, 32 bytes. From a CSPRNG the child is as unpredictable as its 256-bit seed.
 *
 * @example
 * ```ts
 * const root = seededRng('sim-7')
 * const a = forkRng(root, 'publisher'), b = forkRng(root, 'cache-0')
 * a(32) // the same on every run, whatever b or root draw
 * ```
 */
export function forkRng(parent: Rng, label: string): Rng {
  const s = seeds.get(parent) ?? parent(32)
  return seededRng(sha256Parts(FORK_LABEL, u32be(s.length), s, utf8(label)))
}

/** Uniform integer in [0, bound) from an {@link Rng}, by rejection sampling (no modulo bias). */
export function randomBelow(rng: Rng, bound: number): number {
  if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32) throw new RangeError(`bound must be an integer in [1, 2^32], got ${bound}`)
  const limit = 2 ** 32 - (2 ** 32 % bound)
  for (;;) {
    const b = rng(4)
    const x = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0
    if (x < limit) return x % bound
  }
}
