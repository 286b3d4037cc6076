/**
 * keccak256 in WebAssembly, built at load time from a generator below (no toolchain, no binary blob): one call per
 * hash, the Keccak-f[1600] state in 25 i64 locals, the 24 rounds unrolled from the round formulas.
 *
 * Spec: FIPS 202 §3 (θ, ρ, π, χ, ι on 5×5 lanes of 64 bits, little-endian), Keccak's original pad10*1 with the
 * domain byte 0x01 (what Ethereum's keccak256 uses, not SHA3-256's 0x06), rate 1088 bits = 136 bytes, 32 bytes out.
 *
 * Memory (one 64 KiB page, then grown as inputs need): the digest at 0 (32 bytes; the state itself lives in locals,
 * zero at each call), the round constants at 256, the padded input from 512. The caller copies the input in, pads it and calls
 * `absorb(blocks)`; {@link keccak256Wasm} does all of that. Why: the native `keccak` addon costs four N-API calls
 * a hash (~1.3 µs for 97 bytes here); this is one call and a copy.
 *
 * @example
 * ```ts
 * import { keccak256Wasm } from './keccak-wasm.js'
 * Buffer.from(keccak256Wasm!(new Uint8Array(0))).toString('hex') // c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470
 * ```
 */

const RATE = 136
const INPUT = 512
const RC_AT = 256
/** ρ offsets r[x + 5y] (FIPS 202 Table 2). */
const RHO = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14]
const RC = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n, 0x000000000000808bn, 0x0000000080000001n,
  0x8000000080008081n, 0x8000000000008009n, 0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
  0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n, 0x8000000000008002n, 0x8000000000000080n,
  0x000000000000800an, 0x800000008000000an, 0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
]

// ---------------------------------------------------------------- a tiny encoder (only what the kernel needs)
function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f
    v >>>= 7
    if (v !== 0) b |= 0x80
    out.push(b)
  } while (v !== 0)
}
function sleb(out: number[], v: bigint): void {
  for (;;) {
    const b = Number(v & 0x7fn)
    v >>= 7n
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) { out.push(b); return }
    out.push(b | 0x80)
  }
}
const signed64 = (v: bigint) => (v >= 1n << 63n ? v - (1n << 64n) : v)

/** The `absorb(blocks: i32)` function body: locals 0 = blocks (i32), 1 = pointer (i32), then i64 lanes and temps. */
function absorbBody(): number[] {
  const c: number[] = []
  const BLOCKS = 0, PTR = 1
  const A = 2 // a[0..24]: locals 2..26
  const B = 27 // b[0..24]: 27..51
  const C = 52 // c[0..4]: 52..56
  const D = 57 // d: 57
  const get = (l: number) => { c.push(0x20); uleb(c, l) }
  const set = (l: number) => { c.push(0x21); uleb(c, l) }
  const load = (offset: number) => { c.push(0x29, 3); uleb(c, offset) } // i64.load align=8
  const store = (offset: number) => { c.push(0x37, 3); uleb(c, offset) }
  const i32c = (v: number) => { c.push(0x41); sleb(c, BigInt(v)) }
  const i64c = (v: bigint) => { c.push(0x42); sleb(c, signed64(v)) }
  const XOR = 0x85, AND = 0x83, ROTL = 0x89
  // Locals are declared in the code entry (below) and start at 0: the empty state of a one-shot hash.
  i32c(INPUT); set(PTR)
  // block $done (loop $next (br_if $done (blocks == 0)) ... ) )
  c.push(0x02, 0x40, 0x03, 0x40)
  get(BLOCKS); c.push(0x45, 0x0d, 1) // i32.eqz; br_if 1 (out of the block)
  for (let i = 0; i < RATE / 8; i++) { get(A + i); get(PTR); load(8 * i); c.push(XOR); set(A + i) }
  for (let round = 0; round < 24; round++) {
    // θ
    for (let x = 0; x < 5; x++) { get(A + x); for (let y = 1; y < 5; y++) { get(A + x + 5 * y); c.push(XOR) } set(C + x) }
    for (let x = 0; x < 5; x++) {
      get(C + ((x + 4) % 5)); get(C + ((x + 1) % 5)); i64c(1n); c.push(ROTL); c.push(XOR); set(D)
      for (let y = 0; y < 5; y++) { get(A + x + 5 * y); get(D); c.push(XOR); set(A + x + 5 * y) }
    }
    // ρ and π: b[y + 5((2x + 3y) mod 5)] = rotl(a[x + 5y], r[x + 5y])
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) {
        get(A + x + 5 * y)
        if (RHO[x + 5 * y] !== 0) { i64c(BigInt(RHO[x + 5 * y]!)); c.push(ROTL) }
        set(B + y + 5 * ((2 * x + 3 * y) % 5))
      }
    }
    // χ: a[x + 5y] = b[x + 5y] ^ (~b[x+1 + 5y] & b[x+2 + 5y]); ι on a[0]
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 5; x++) {
        get(B + x + 5 * y)
        get(B + ((x + 1) % 5) + 5 * y); i64c(-1n); c.push(XOR)
        get(B + ((x + 2) % 5) + 5 * y); c.push(AND)
        c.push(XOR)
        if (x === 0 && y === 0) { i32c(0); load(RC_AT + 8 * round); c.push(XOR) }
        set(A + x + 5 * y)
      }
    }
  }
  get(PTR); i32c(RATE); c.push(0x6a); set(PTR) // ptr += 136
  get(BLOCKS); i32c(1); c.push(0x6b); set(BLOCKS) // blocks -= 1
  c.push(0x0c, 0) // br 0 (loop)
  c.push(0x0b, 0x0b) // end loop, end block
  // The digest: the first 4 lanes (32 bytes).
  for (let i = 0; i < 4; i++) { i32c(0); get(A + i); store(8 * i) }
  c.push(0x0b) // end function
  // Code entry: local declarations (1 × i32 pointer, 56 × i64), then the body.
  const entry: number[] = []
  uleb(entry, 2)
  entry.push(1, 0x7f)
  uleb(entry, 56); entry.push(0x7e)
  return [...entry, ...c]
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]
  const section = (id: number, body: number[]) => { out.push(id); uleb(out, body.length); out.push(...body) }
  section(1, [1, 0x60, 1, 0x7f, 0]) // type: (i32) -> ()
  section(3, [1, 0]) // function 0 has type 0
  section(5, [1, 0, 1]) // memory: min 1 page
  const name = (s: string) => { const b = [...Buffer.from(s)]; return [b.length, ...b] }
  section(7, [2, ...name('absorb'), 0x00, 0, ...name('memory'), 0x02, 0]) // exports
  const body = absorbBody()
  const fn: number[] = []
  uleb(fn, body.length)
  fn.push(...body)
  section(10, [1, ...fn])
  return Uint8Array.from(out)
}

function load(): { hash: (data: Uint8Array) => Uint8Array; view: (data: Uint8Array) => Uint8Array } | undefined {
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes() as Uint8Array<ArrayBuffer>))
    const absorb = inst.exports.absorb as (blocks: number) => void
    const memory = inst.exports.memory as WebAssembly.Memory
    let mem = new Uint8Array(memory.buffer)
    const dv = new DataView(memory.buffer)
    RC.forEach((v, i) => dv.setBigUint64(RC_AT + 8 * i, v, true))
    let out = mem.subarray(0, 32)
    const view = (data: Uint8Array) => {
      const blocks = Math.floor(data.length / RATE) + 1
      const need = INPUT + blocks * RATE
      if (need > mem.length) {
        memory.grow(Math.ceil((need - mem.length) / 65536))
        mem = new Uint8Array(memory.buffer)
        out = mem.subarray(0, 32)
      }
      mem.set(data, INPUT)
      const end = INPUT + blocks * RATE
      mem.fill(0, INPUT + data.length, end)
      mem[INPUT + data.length]! ^= 0x01
      mem[end - 1]! |= 0x80
      absorb(blocks)
      return out
    }
    return { view, hash: (data) => view(data).slice() }
  } catch {
    return undefined
  }
}

const loaded = load()

/** keccak256 in WebAssembly, or undefined where WebAssembly cannot be instantiated. */
export const keccak256Wasm: ((data: Uint8Array) => Uint8Array) | undefined = loaded?.hash

/**
 * The same hash, returned as a view of the module's memory: valid only until the next call (no copy: for a digest
 * that is compared or copied at once, on a hot path). undefined where WebAssembly cannot be instantiated.
 */
export const keccak256WasmView: ((data: Uint8Array) => Uint8Array) | undefined = loaded?.view
