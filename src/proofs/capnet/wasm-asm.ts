/**
 * A minimal WebAssembly binary encoder (no WAT, no toolchain): just what CAPnet's kernels (wasm-kernels.ts) need —
 * one exported memory, functions over i32 / i64 / v128 locals, structured control flow, loads and stores, and the
 * scalar and SIMD opcodes listed in `OP`. Functions are written as stack code through a small builder; the kernels
 * generate their unrolled bodies with ordinary loops at module-build time.
 *
 * Binary format: WebAssembly Core Specification 2.0 §5 (sections type 1, function 3, memory 5, export 7, code 10),
 * SIMD opcodes per the fixed-width SIMD proposal (prefix 0xfd, LEB128 sub-opcode).
 *
 * @example
 * ```ts
 * import { WasmModule, I32 } from './wasm-asm.js'
 * const m = new WasmModule(1)
 * m.func('add', [I32, I32], [I32], (f) => { f.get(0); f.get(1); f.op('i32.add') })
 * const { add } = new WebAssembly.Instance(new WebAssembly.Module(m.bytes())).exports as { add: (a: number, b: number) => number }
 * add(2, 3) // 5
 * ```
 */

export const I32 = 0x7f
export const I64 = 0x7e
export const V128 = 0x7b
export type ValType = typeof I32 | typeof I64 | typeof V128

/** Plain opcodes (one byte) and SIMD opcodes (`0xfd` prefix, value = sub-opcode + 0x1000). */
const OP = {
  'unreachable': 0x00, 'drop': 0x1a, 'select': 0x1b, 'return': 0x0f,
  'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_u': 0x49, 'i32.gt_u': 0x4b, 'i32.le_u': 0x4d, 'i32.ge_u': 0x4f,
  'i32.ctz': 0x68, 'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.div_u': 0x6e, 'i32.rem_u': 0x70,
  'i32.and': 0x71, 'i32.or': 0x72, 'i32.xor': 0x73, 'i32.shl': 0x74, 'i32.shr_u': 0x76, 'i32.rotl': 0x77, 'i32.rotr': 0x78,
  'i64.lt_u': 0x54, 'i64.add': 0x7c, 'i64.and': 0x83, 'i64.or': 0x84, 'i64.shr_u': 0x88, 'i64.shl': 0x86, 'i64.rem_u': 0x82, 'i32.wrap_i64': 0xa7, 'i64.extend_i32_u': 0xad,
  'v128.not': 0x104d, 'v128.and': 0x104e, 'v128.andnot': 0x104f, 'v128.or': 0x1050, 'v128.xor': 0x1051,
  'v128.bitselect': 0x1052, 'v128.any_true': 0x1053, 'i8x16.swizzle': 0x100e,
  'i8x16.splat': 0x100f, 'i32x4.splat': 0x1011, 'i32x4.eq': 0x1037, 'i32x4.all_true': 0x10a3, 'i32x4.bitmask': 0x10a4,
  'i8x16.shl': 0x106b, 'i8x16.shr_s': 0x106c, 'i8x16.shr_u': 0x106d, 'i8x16.add': 0x106e, 'i8x16.sub': 0x1071,
  'i32x4.shl': 0x10ab, 'i32x4.shr_u': 0x10ad, 'i32x4.add': 0x10ae, 'i32x4.sub': 0x10b1,
} as const
export type OpName = keyof typeof OP

/** Memory opcodes and their natural alignment (log2 bytes). */
const MEM = {
  'i32.load': [0x28, 2], 'i64.load': [0x29, 3], 'i32.load8_u': [0x2d, 0], 'i32.store': [0x36, 2], 'i64.store': [0x37, 3], 'i32.store8': [0x3a, 0],
  'v128.load': [0x1000, 4], 'v128.store': [0x100b, 4],
} as const
export type MemOpName = keyof typeof MEM

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f
    v = Math.floor(v / 128)
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

function opcode(out: number[], code: number): void {
  if (code >= 0x1000) { out.push(0xfd); uleb(out, code - 0x1000) } else out.push(code)
}

/** Stack-code builder of one function body. Locals 0..params-1 are the parameters. */
export class FuncBuilder {
  readonly code: number[] = []
  private readonly locals: ValType[] = []
  constructor(private readonly paramCount: number) {}
  /** Declares a new local of type `t`; returns its index. */
  local(t: ValType): number {
    this.locals.push(t)
    return this.paramCount + this.locals.length - 1
  }
  get(i: number): this { this.code.push(0x20); uleb(this.code, i); return this }
  set(i: number): this { this.code.push(0x21); uleb(this.code, i); return this }
  tee(i: number): this { this.code.push(0x22); uleb(this.code, i); return this }
  i32(v: number): this { this.code.push(0x41); sleb(this.code, BigInt(v | 0)); return this }
  i64(v: bigint): this { this.code.push(0x42); sleb(this.code, BigInt.asIntN(64, v)); return this }
  /** v128.const from 16 bytes. */
  v128(bytes: ArrayLike<number>): this {
    if (bytes.length !== 16) throw new RangeError('v128 constant must be 16 bytes')
    opcode(this.code, 0x100c)
    for (let i = 0; i < 16; i++) this.code.push(bytes[i] & 0xff)
    return this
  }
  /** v128.const of four i32 lanes. */
  v128i32(a: number, b: number, c: number, d: number): this {
    const bytes: number[] = []
    for (const x of [a, b, c, d]) bytes.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff)
    return this.v128(bytes)
  }
  op(name: OpName): this { opcode(this.code, OP[name]); return this }
  /** i8x16.shuffle with 16 lane indices (0..31). */
  shuffle(lanes: ArrayLike<number>): this {
    opcode(this.code, 0x100d)
    for (let i = 0; i < 16; i++) this.code.push(lanes[i])
    return this
  }
  extractLaneI64(lane: number): this { opcode(this.code, 0x101d); this.code.push(lane); return this }
  replaceLaneI64(lane: number): this { opcode(this.code, 0x101e); this.code.push(lane); return this }
  extractLane(lane: number): this { opcode(this.code, 0x101b); this.code.push(lane); return this }
  replaceLane(lane: number): this { opcode(this.code, 0x101c); this.code.push(lane); return this }
  mem(name: MemOpName, offset = 0): this {
    const [code, align] = MEM[name]
    opcode(this.code, code)
    uleb(this.code, align)
    uleb(this.code, offset)
    return this
  }
  /** block / loop / if with an empty block type; close with end(). */
  block(): this { this.code.push(0x02, 0x40); return this }
  loop(): this { this.code.push(0x03, 0x40); return this }
  if(): this { this.code.push(0x04, 0x40); return this }
  else(): this { this.code.push(0x05); return this }
  end(): this { this.code.push(0x0b); return this }
  call(func: number): this { this.code.push(0x10); uleb(this.code, func); return this }
  br(depth: number): this { this.code.push(0x0c); uleb(this.code, depth); return this }
  brIf(depth: number): this { this.code.push(0x0d); uleb(this.code, depth); return this }

  /** The encoded body: local declarations, code, end. */
  body(): number[] {
    const out: number[] = []
    const groups: [number, ValType][] = []
    for (const t of this.locals) {
      const last = groups[groups.length - 1]
      if (last && last[1] === t) last[0]++
      else groups.push([1, t])
    }
    uleb(out, groups.length)
    for (const [n, t] of groups) { uleb(out, n); out.push(t) }
    out.push(...this.code, 0x0b)
    return out
  }
}

interface FuncDef { name: string; params: ValType[]; results: ValType[]; body: number[] }

/** A module with one memory (exported as `memory`) and exported functions. */
export class WasmModule {
  private readonly funcs: FuncDef[] = []
  /** @param pages initial memory, 64 KiB pages (the memory can grow). */
  constructor(private readonly pages: number) {}
  /** Adds an exported function; returns its index (for `call`). */
  func(name: string, params: ValType[], results: ValType[], build: (f: FuncBuilder) => void): number {
    const f = new FuncBuilder(params.length)
    build(f)
    this.funcs.push({ name, params, results, body: f.body() })
    return this.funcs.length - 1
  }
  bytes(): Uint8Array {
    const section = (out: number[], id: number, content: number[]) => { out.push(id); uleb(out, content.length); out.push(...content) }
    const vec = (items: number[][]) => { const o: number[] = []; uleb(o, items.length); for (const it of items) o.push(...it); return o }
    const name = (s: string) => { const b = [...new TextEncoder().encode(s)]; const o: number[] = []; uleb(o, b.length); return [...o, ...b] }
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]
    section(out, 1, vec(this.funcs.map((f) => { const o = [0x60]; uleb(o, f.params.length); o.push(...f.params); uleb(o, f.results.length); o.push(...f.results); return o })))
    section(out, 3, vec(this.funcs.map((_, i) => { const o: number[] = []; uleb(o, i); return o })))
    const mem = [0x00]
    uleb(mem, this.pages)
    section(out, 5, vec([mem]))
    const exports = [[...name('memory'), 0x02, 0x00]]
    this.funcs.forEach((f, i) => { const o = [...name(f.name), 0x00]; uleb(o, i); exports.push(o) })
    section(out, 7, vec(exports))
    section(out, 10, vec(this.funcs.map((f) => { const o: number[] = []; uleb(o, f.body.length); return [...o, ...f.body] })))
    return new Uint8Array(out)
  }
}
