/**
 * The work tree of a batch, as `contracts/WorkMarket.sol` verifies it.
 *
 * Spec (souk.work v1, /tmp/compute-spec.md § Formats):
 * - A **unit** is one segment of frames; units of a job are numbered 0..units-1. A **batch** claims the units
 *   [first, first + count), 1 <= count <= 2^20 ({@link MAX_BATCH_UNITS}).
 * - **Leaf** of unit u: `keccak256(0x00 ‖ uint32be(u) ‖ inputHash ‖ outputHash)` (69 bytes hashed), inputHash and
 *   outputHash the keccak256 of the unit's input and output bytes.
 * - **Node**: `keccak256(0x01 ‖ left ‖ right)` over two 32-byte children. The prefix byte keeps a node from passing
 *   for a leaf (69 vs 65 bytes hashed also differ).
 * - **Tree**: unit u at position i = u - first, padded with bytes32(0) leaves to 2^depth, depth = ceil(log2 count)
 *   (count 1: depth 0, the root is the leaf). A **path** is the depth siblings bottom-up; bit j of i says whether the
 *   level-j node on the way up is a right child.
 *
 * Building keeps every level (64 bytes a unit in all); 2^20 units hash 2^21 times with the native keccak.
 *
 * @example
 * ```ts
 * import { buildWorkTree, workPath, workLeaf, verifyWorkPath } from './tree.js'
 * const tree = buildWorkTree(100, units)            // units[i]: { inputHash, outputHash } of unit 100 + i
 * const path = workPath(tree, 7)                     // unit 107's siblings, bottom-up
 * verifyWorkPath(tree.root, 7, tree.count, workLeaf(107, units[7].inputHash, units[7].outputHash), path) // true
 * ```
 */
import type { Hex } from 'viem'
import { keccak256 } from '../../crypto/keccak.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { WorkProofError } from './errors.js'

/** Bytes of a hash, a leaf, a node and a root. */
export const WORK_HASH_BYTES = 32
/** Most units one batch (one tree, one claim) may cover: `maxBatch` is at most this. */
export const MAX_BATCH_UNITS = 2 ** 20
/** Depth of a tree of {@link MAX_BATCH_UNITS} units. */
export const MAX_WORK_DEPTH = 20
/** Largest unit number (units are uint32 in a leaf). */
export const MAX_UNIT = 2 ** 32 - 1
export const WORK_LEAF_PREFIX = 0x00
export const WORK_NODE_PREFIX = 0x01

/** A 32-byte value as bytes or 0x-hex. */
export type Bytes32 = Uint8Array | Hex

/** One unit's hashes, the leaf's contents. */
export interface UnitHashes {
  inputHash: Bytes32
  outputHash: Bytes32
}

// ------------------------------------------------------------------ inline asserts (noble style)
const HEX32 = /^0x[0-9a-fA-F]{64}$/

/** Inline assert: `v` is 32 bytes (a Uint8Array or 0x + 64 hex digits). Returns the bytes. */
export function abytes32(v: unknown, title: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.length !== WORK_HASH_BYTES) throw new RangeError(`${title} must be 32 bytes, got ${v.length}`)
    return v
  }
  if (typeof v === 'string') {
    if (!HEX32.test(v)) throw new RangeError(`${title} must be 0x and 64 hex digits, got ${v.length > 80 ? `${v.slice(0, 80)}…` : v}`)
    return new Uint8Array(Buffer.from(v.slice(2), 'hex'))
  }
  throw new TypeError(`${title} must be a Uint8Array or a hex string, got ${v === null ? 'null' : typeof v}`)
}

/** Inline assert: `v` is an integer in [min, max]. Returns it. */
export function aint(v: unknown, title: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${title} must be a safe integer, got ${String(v)}`)
  if (v < min || v > max) throw new RangeError(`${title} must be in [${min}, ${max}], got ${v}`)
  return v
}

// ------------------------------------------------------------------ hashing
const leafBuf = Buffer.alloc(69)
const nodeBuf = Buffer.alloc(65)
nodeBuf[0] = WORK_NODE_PREFIX

function writeLeafPreimage(unit: number, inputHash: Uint8Array, outputHash: Uint8Array): void {
  leafBuf[0] = WORK_LEAF_PREFIX
  leafBuf.writeUInt32BE(unit, 1)
  leafBuf.set(inputHash, 5)
  leafBuf.set(outputHash, 37)
}

/** The leaf of unit `unit` (0x-hex). */
export function workLeaf(unit: number, inputHash: Bytes32, outputHash: Bytes32): Hex {
  return bytesToHex(workLeafBytes(unit, inputHash, outputHash))
}

/** The leaf of unit `unit` (32 bytes). */
export function workLeafBytes(unit: number, inputHash: Bytes32, outputHash: Bytes32): Uint8Array {
  aint(unit, 'unit', 0, MAX_UNIT)
  writeLeafPreimage(unit, abytes32(inputHash, 'inputHash'), abytes32(outputHash, 'outputHash'))
  return Uint8Array.from(keccak256(leafBuf))
}

/** The parent of two 32-byte nodes (0x-hex). */
export function workNode(left: Bytes32, right: Bytes32): Hex {
  nodeBuf.set(abytes32(left, 'left'), 1)
  nodeBuf.set(abytes32(right, 'right'), 33)
  return bytesToHex(keccak256(nodeBuf))
}

/** Depth of a batch's tree: ceil(log2 count); count in [1, 2^20]. */
export function batchDepth(count: number): number {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_BATCH_UNITS) {
    throw new WorkProofError('bad-size', `a batch covers 1 to ${MAX_BATCH_UNITS} units, got ${count}`)
  }
  let d = 0
  while (2 ** d < count) d++
  return d
}

// ------------------------------------------------------------------ trees
export interface WorkTree {
  /** The batch's first unit. */
  readonly first: number
  /** Units in the batch (positions >= count are zero padding). */
  readonly count: number
  readonly depth: number
  /** The root, 0x-hex lower case (what `claimWork` posts). */
  readonly root: Hex
  /** levels[h]: the nodes at height h packed 32 bytes each (levels[0] the leaves; padding not stored). */
  readonly levels: readonly Uint8Array[]
}

/** Builds the tree of the batch starting at unit `first` from each unit's hashes (units[i] is unit first + i). */
export function buildWorkTree(first: number, units: readonly UnitHashes[]): WorkTree {
  if (!Array.isArray(units)) throw new TypeError(`units must be an array, got ${typeof units}`)
  const count = units.length
  batchDepth(count)
  aint(first, 'first', 0, MAX_UNIT)
  if (first + count - 1 > MAX_UNIT) throw new WorkProofError('bad-unit', `units [${first}, ${first + count}) pass the last unit ${MAX_UNIT}`)
  const leaves = Buffer.allocUnsafe(count * WORK_HASH_BYTES)
  for (let i = 0; i < count; i++) {
    const u = units[i]!
    writeLeafPreimage(first + i, abytes32(u.inputHash, `units[${i}].inputHash`), abytes32(u.outputHash, `units[${i}].outputHash`))
    leaves.set(keccak256(leafBuf), i * WORK_HASH_BYTES)
  }
  return fromLeaves(first, count, leaves)
}

/** Builds the tree from leaves already hashed (`leaves` packed 32 bytes each, or one 32-byte value a leaf). */
export function workTreeFromLeaves(first: number, leaves: Uint8Array | readonly Bytes32[]): WorkTree {
  aint(first, 'first', 0, MAX_UNIT)
  let packed: Uint8Array
  if (leaves instanceof Uint8Array) {
    if (leaves.length % WORK_HASH_BYTES !== 0) throw new RangeError(`packed leaves must be a multiple of 32 bytes, got ${leaves.length}`)
    packed = leaves.slice()
  } else {
    packed = new Uint8Array(leaves.length * WORK_HASH_BYTES)
    leaves.forEach((l, i) => packed.set(abytes32(l, `leaves[${i}]`), i * WORK_HASH_BYTES))
  }
  const count = packed.length / WORK_HASH_BYTES
  batchDepth(count)
  if (first + count - 1 > MAX_UNIT) throw new WorkProofError('bad-unit', `units [${first}, ${first + count}) pass the last unit ${MAX_UNIT}`)
  return fromLeaves(first, count, packed)
}

/** ZERO[h]: the root of a subtree of height h over zero leaves (the padding). */
const ZERO: Uint8Array[] = [new Uint8Array(WORK_HASH_BYTES)]
for (let h = 1; h <= MAX_WORK_DEPTH; h++) {
  nodeBuf.set(ZERO[h - 1]!, 1)
  nodeBuf.set(ZERO[h - 1]!, 33)
  ZERO.push(Uint8Array.from(keccak256(nodeBuf)))
}
/** The root of a subtree of `height` zero leaves (padding). */
export const zeroWorkSubtree = (height: number): Uint8Array => ZERO[aint(height, 'height', 0, MAX_WORK_DEPTH)]!.slice()

function fromLeaves(first: number, count: number, leaves: Uint8Array): WorkTree {
  const depth = batchDepth(count)
  const levels: Uint8Array[] = [leaves]
  let cur = Buffer.from(leaves.buffer, leaves.byteOffset, leaves.byteLength)
  let n = count
  for (let h = 0; h < depth; h++) {
    const m = Math.ceil(n / 2)
    const next = Buffer.allocUnsafe(m * WORK_HASH_BYTES)
    for (let i = 0; i < m; i++) {
      const l = 2 * i * WORK_HASH_BYTES
      if (2 * i + 1 < n) cur.copy(nodeBuf, 1, l, l + 2 * WORK_HASH_BYTES)
      else { cur.copy(nodeBuf, 1, l, l + WORK_HASH_BYTES); nodeBuf.set(ZERO[h]!, 33) }
      next.set(keccak256(nodeBuf), i * WORK_HASH_BYTES)
    }
    levels.push(next)
    cur = next
    n = m
  }
  return { first, count, depth, root: bytesToHex(cur.subarray(0, WORK_HASH_BYTES)), levels }
}

/** The root of the batch starting at `first` (builds the tree). */
export function workRoot(first: number, units: readonly UnitHashes[]): Hex {
  return buildWorkTree(first, units).root
}

function nodeAt(t: WorkTree, h: number, p: number): Uint8Array {
  const lv = t.levels[h]!
  return (p + 1) * WORK_HASH_BYTES <= lv.length ? lv.subarray(p * WORK_HASH_BYTES, (p + 1) * WORK_HASH_BYTES) : ZERO[h]!
}

/** The leaf at `position` (unit first + position) of a built tree. */
export function workTreeLeaf(t: WorkTree, position: number): Hex {
  aint(position, 'position', 0, t.count - 1)
  return bytesToHex(nodeAt(t, 0, position))
}

/** The path of the unit at `position` (= unit - first): `depth` siblings bottom-up, 0x-hex (what `fault` and `answer` take). */
export function workPath(t: WorkTree, position: number): Hex[] {
  aint(position, 'position', 0, t.count - 1)
  const out: Hex[] = []
  for (let h = 0, p = position; h < t.depth; h++, p >>>= 1) out.push(bytesToHex(nodeAt(t, h, p ^ 1)))
  return out
}

/**
 * Whether `path` leads from `leaf` at `position` to `root` in a batch of `count` units. False on any bad input
 * (wrong lengths, a position outside the batch, a path of the wrong depth); never throws.
 */
export function verifyWorkPath(root: Bytes32, position: number, count: number, leaf: Bytes32, path: readonly Bytes32[]): boolean {
  try {
    const r = abytes32(root, 'root')
    let h: Uint8Array = abytes32(leaf, 'leaf')
    const depth = batchDepth(count)
    aint(position, 'position', 0, count - 1)
    if (!Array.isArray(path) || path.length !== depth) return false
    for (let j = 0; j < depth; j++) {
      const s = abytes32(path[j], `path[${j}]`)
      const right = (position >>> j) & 1
      nodeBuf.set(right ? s : h, 1)
      nodeBuf.set(right ? h : s, 33)
      h = keccak256(nodeBuf)
    }
    return Buffer.compare(Buffer.from(h.buffer, h.byteOffset, WORK_HASH_BYTES), Buffer.from(r.buffer, r.byteOffset, WORK_HASH_BYTES)) === 0
  } catch {
    return false
  }
}

/** Whether `path` proves unit `unit`'s hashes in the batch [first, first + count) with `root` (the contract's `verifyLeaf`). */
export function verifyWorkUnit(o: { root: Bytes32; first: number; count: number; unit: number; inputHash: Bytes32; outputHash: Bytes32; path: readonly Bytes32[] }): boolean {
  try {
    if (o.unit < o.first || o.unit >= o.first + o.count) return false
    return verifyWorkPath(o.root, o.unit - o.first, o.count, workLeafBytes(o.unit, o.inputHash, o.outputHash), o.path)
  } catch {
    return false
  }
}
