/**
 * Typed messages over a `MessageStream`: size cap first, then decode, then schema validation (zod).
 *
 * Two frame formats, both documented in docs/net.md:
 * - JSON message (`createCodec`): the frame is UTF-8 JSON. `bigint` is written as `{"$bigint":"123"}` and
 *   `Uint8Array` as `{"$bytes":"<base64>"}`; an object whose only key is `$bigint` or `$bytes` is reserved.
 * - Binary message (`createBinaryCodec`): `[u32 big-endian header length][header JSON (as above)][body bytes]`,
 *   so content chunks travel raw (no base64), and the decoded body is a view into the frame (no copy).
 */
import type { z } from 'zod'
import { MalformedMessageError, MessageTooLargeError, type MessageIssue } from './errors.js'
import type { AbortOptions, MessageStream } from './types.js'

/** Encodes and decodes one message type. `decode` throws `MessageTooLargeError` or `MalformedMessageError`. */
export interface Codec<T> {
  readonly name: string
  readonly maxBytes: number
  encode(value: T): Uint8Array
  /** Optional: the encoding as parts whose concatenation is `encode(value)`, which `sendMessage` writes without joining (no copy of a body). */
  encodeParts?(value: T): Uint8Array[]
  decode(frame: Uint8Array): T
}

export interface CodecOptions {
  /** Largest encoded message accepted or produced; checked before decoding. */
  maxBytes: number
  /** Name used in error messages, e.g. the protocol id. */
  name?: string
}

/** A binary message: a typed JSON header and a raw body. */
export interface BinaryMessage<H> { header: H; body: Uint8Array }

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

function replacer(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const raw = this[key] // the value before toJSON (a Buffer's toJSON would hide that it is bytes)
  if (typeof raw === 'bigint') return { $bigint: raw.toString() }
  if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') }
  return v
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function reviver(_key: string, v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>
    const keys = Object.keys(o)
    if (keys.length === 1) {
      if (keys[0] === '$bigint') {
        if (typeof o.$bigint !== 'string' || !/^-?\d{1,4096}$/.test(o.$bigint)) throw new SyntaxError('bad $bigint tag')
        return BigInt(o.$bigint)
      }
      if (keys[0] === '$bytes') {
        if (typeof o.$bytes !== 'string' || o.$bytes.length % 4 !== 0 || !BASE64.test(o.$bytes)) throw new SyntaxError('bad $bytes tag')
        const b = Buffer.from(o.$bytes, 'base64')
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
      }
    }
  }
  return v
}

/**
 * Encodes a value as tagged JSON (bigint and Uint8Array survive the round trip).
 *
 * @example
 * ```ts
 * import { encodeJson, decodeJson } from './codec.js'
 * decodeJson(encodeJson({ amount: 5n, key: new Uint8Array([1, 2]) })) // { amount: 5n, key: Uint8Array [1, 2] }
 * ```
 */
export function encodeJson(value: unknown): Uint8Array {
  const s = JSON.stringify(value, replacer)
  if (s === undefined) throw new TypeError('encodeJson: value is not JSON-serializable')
  return enc.encode(s)
}

/** Decodes tagged JSON; throws `MalformedMessageError` on bad UTF-8, bad JSON or a bad tag. See {@link encodeJson}. */
export function decodeJson(bytes: Uint8Array, name?: string): unknown {
  try {
    return JSON.parse(dec.decode(bytes), reviver)
  } catch (e) {
    throw new MalformedMessageError(`not valid JSON (${e instanceof Error ? e.message : String(e)})`, { codec: name, cause: e })
  }
}

function validate<S extends z.ZodType>(schema: S, value: unknown, name: string | undefined): z.output<S> {
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const issues: MessageIssue[] = r.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: i.message, code: i.code }))
  throw new MalformedMessageError(`schema violation (${issues.length} issue${issues.length === 1 ? '' : 's'}: ${issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`, { issues, codec: name })
}

function checkCap(size: number, maxBytes: number, name: string | undefined, what: string): void {
  if (size > maxBytes) throw new MessageTooLargeError(size, maxBytes, { what: `${what}${name ? ` (${name})` : ''}` })
}

function checkMax(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`codec: maxBytes must be a positive integer, got ${maxBytes}`)
}

/**
 * A codec for JSON messages validated by a zod schema. `decode` checks the size cap first, then parses, then
 * validates; `encode` validates too, so a peer never sends what it would reject.
 *
 * @example
 * ```ts
 * import { z } from 'zod'
 * import { createCodec } from './codec.js'
 * const Ask = z.object({ cid: z.string(), maxPrice: z.bigint() })
 * const codec = createCodec(Ask, { maxBytes: 4096, name: 'ask' })
 * codec.decode(codec.encode({ cid: 'abc', maxPrice: 10n })) // { cid: 'abc', maxPrice: 10n }
 * ```
 */
export function createCodec<S extends z.ZodType>(schema: S, opts: CodecOptions): Codec<z.output<S>> {
  checkMax(opts.maxBytes)
  const { maxBytes, name } = opts
  return {
    name: name ?? 'json',
    maxBytes,
    encode(value) {
      const bytes = encodeJson(validate(schema, value, name))
      checkCap(bytes.length, maxBytes, name, 'Encoded message')
      return bytes
    },
    decode(frame) {
      checkCap(frame.length, maxBytes, name, 'Message')
      return validate(schema, decodeJson(frame, name), name)
    },
  }
}

/** Bytes of the header-length prefix of a binary message. */
export const BINARY_HEADER_PREFIX_BYTES = 4
/** Largest JSON header of a binary message: headers describe a chunk, they are not payloads. */
export const MAX_BINARY_HEADER_BYTES = 16 * 1024

/**
 * A codec for messages with a typed JSON header and a raw binary body, in one frame:
 * `[u32 BE header length][header JSON][body]`. The decoded body is a view into the frame, not a copy.
 *
 * @example
 * ```ts
 * import { z } from 'zod'
 * import { createBinaryCodec } from './codec.js'
 * const codec = createBinaryCodec(z.object({ index: z.number().int() }), { maxBytes: 1 << 21, name: 'chunk' })
 * const frame = codec.encode({ header: { index: 0 }, body: new Uint8Array(1 << 20) })
 * codec.decode(frame).body.length // 1048576
 * ```
 */
export function createBinaryCodec<S extends z.ZodType>(schema: S, opts: CodecOptions & { maxHeaderBytes?: number }): Codec<BinaryMessage<z.output<S>>> {
  checkMax(opts.maxBytes)
  const { maxBytes, name } = opts
  const maxHeader = opts.maxHeaderBytes ?? MAX_BINARY_HEADER_BYTES
  /** `[prefix + header, body]`: the body is not copied. */
  const encodeParts = ({ header, body }: BinaryMessage<z.output<S>>): Uint8Array[] => {
    if (!(body instanceof Uint8Array)) throw new TypeError(`binary codec${name ? ` (${name})` : ''}: body must be a Uint8Array`)
    const h = encodeJson(validate(schema, header, name))
    checkCap(h.length, maxHeader, name, 'Encoded header')
    checkCap(BINARY_HEADER_PREFIX_BYTES + h.length + body.length, maxBytes, name, 'Encoded message')
    const head = new Uint8Array(BINARY_HEADER_PREFIX_BYTES + h.length)
    new DataView(head.buffer).setUint32(0, h.length)
    head.set(h, BINARY_HEADER_PREFIX_BYTES)
    return [head, body]
  }
  return {
    name: name ?? 'binary',
    maxBytes,
    encode(value) {
      const [head, body] = encodeParts(value)
      const out = new Uint8Array(head.length + body.length)
      out.set(head)
      out.set(body, head.length)
      return out
    },
    encodeParts,
    decode(frame) {
      checkCap(frame.length, maxBytes, name, 'Message')
      if (frame.length < BINARY_HEADER_PREFIX_BYTES) throw new MalformedMessageError(`frame of ${frame.length} bytes is shorter than the header prefix`, { codec: name })
      const hlen = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0)
      if (hlen > maxHeader) throw new MalformedMessageError(`header length ${hlen} exceeds ${maxHeader} bytes`, { codec: name })
      if (BINARY_HEADER_PREFIX_BYTES + hlen > frame.length) throw new MalformedMessageError(`header length ${hlen} runs past the frame end (${frame.length} bytes)`, { codec: name })
      const header = validate(schema, decodeJson(frame.subarray(BINARY_HEADER_PREFIX_BYTES, BINARY_HEADER_PREFIX_BYTES + hlen), name), name)
      return { header, body: frame.subarray(BINARY_HEADER_PREFIX_BYTES + hlen) }
    },
  }
}

/**
 * Encodes `value` with `codec` and writes it as one frame.
 *
 * @example
 * ```ts
 * await sendMessage(stream, askCodec, { cid: 'abc', maxPrice: 10n }, { timeoutMs: 5_000 })
 * ```
 */
export async function sendMessage<T>(stream: MessageStream, codec: Codec<T>, value: T, opts?: AbortOptions): Promise<void> {
  await stream.write(codec.encodeParts ? codec.encodeParts(value) : codec.encode(value), opts)
}

/**
 * Reads one frame and decodes it with `codec`: size cap, then decode, then schema. Throws `MessageTooLargeError`,
 * `MalformedMessageError` (the stream is then reset: the peer broke the protocol), `StreamClosedError`,
 * `TimeoutError` or `AbortedError`.
 *
 * @example
 * ```ts
 * const ask = await readMessage(stream, askCodec, { timeoutMs: 5_000 })
 * ```
 */
export async function readMessage<T>(stream: MessageStream, codec: Codec<T>, opts?: AbortOptions): Promise<T> {
  const frame = await stream.read(opts)
  try {
    return codec.decode(frame)
  } catch (e) {
    if (e instanceof MalformedMessageError || e instanceof MessageTooLargeError) {
      e.details.peer = stream.remotePeer
      e.details.protocol = stream.protocol
    }
    stream.abort(e as Error)
    throw e
  }
}

/**
 * Request/response in one call: writes `request`, reads one response, closes our side.
 *
 * @example
 * ```ts
 * const stream = await transport.dial(addr, protocolId('echo', 1))
 * const reply = await request(stream, reqCodec, resCodec, { text: 'hi' }, { timeoutMs: 5_000 })
 * ```
 */
export async function request<Q, R>(stream: MessageStream, reqCodec: Codec<Q>, resCodec: Codec<R>, value: Q, opts?: AbortOptions): Promise<R> {
  try {
    await sendMessage(stream, reqCodec, value, opts)
    const res = await readMessage(stream, resCodec, opts)
    await stream.close()
    return res
  } catch (e) {
    stream.abort(e as Error)
    throw e
  }
}
