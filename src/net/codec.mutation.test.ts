/**
 * The codec's checks one by one, at their boundaries: each test fails if the check it names is removed or moved
 * by one (docs/testing.md, `npm run mutate -- codec`). Imports only the codec and the memory transport, so a
 * mutant dies in a fraction of a second.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { BINARY_HEADER_PREFIX_BYTES, MAX_BINARY_HEADER_BYTES, createBinaryCodec, createCodec, decodeJson, encodeJson, readMessage, request, sendMessage } from './codec.js'
import { MalformedMessageError, MessageTooLargeError, StreamClosedError } from './errors.js'
import { createMemoryNetwork } from './memory.js'
import { protocolId } from './types.js'

const enc = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
/** A binary frame by hand: u32 BE header length, header bytes, body bytes. */
function frameOf(hlen: number, header: Uint8Array, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const f = new Uint8Array(4 + header.length + body.length)
  new DataView(f.buffer).setUint32(0, hlen)
  f.set(header, 4)
  f.set(body, 4 + header.length)
  return f
}
const malformed = (re: RegExp) => (e: unknown) => e instanceof MalformedMessageError && re.test(e.message)
const tooLarge = (size: number, maxBytes: number, what: RegExp) => (e: unknown) =>
  e instanceof MessageTooLargeError && e.size === size && e.maxBytes === maxBytes && what.test(e.message)

describe('tagged JSON tags', () => {
  test('$bigint: signed decimal integers of 1..4096 digits, nothing else', () => {
    assert.equal(decodeJson(enc('{"$bigint":"-42"}')), -42n)
    assert.equal(decodeJson(enc('{"$bigint":"0"}')), 0n)
    assert.equal(decodeJson(enc(`{"$bigint":"${'9'.repeat(4096)}"}`)), BigInt('9'.repeat(4096)))
    for (const bad of ['""', '"-"', '" 5"', '"5 "', '"5a"', '"a5"', '"+5"', '"0x10"', `"${'9'.repeat(4097)}"`, '5', 'null', '["5"]']) {
      assert.throws(() => decodeJson(enc(`{"$bigint":${bad}}`)), malformed(/bad \$bigint tag/), bad)
    }
  })

  test('$bytes: canonical base64 only (length a multiple of 4, base64 alphabet, at most two = at the end)', () => {
    assert.deepEqual([...(decodeJson(enc('{"$bytes":"AQID"}')) as Uint8Array)], [1, 2, 3])
    assert.deepEqual([...(decodeJson(enc('{"$bytes":"AQI="}')) as Uint8Array)], [1, 2])
    assert.deepEqual([...(decodeJson(enc('{"$bytes":"AQ=="}')) as Uint8Array)], [1])
    assert.deepEqual([...(decodeJson(enc('{"$bytes":"+/+/"}')) as Uint8Array)], [0xfb, 0xff, 0xbf])
    assert.equal((decodeJson(enc('{"$bytes":""}')) as Uint8Array).length, 0)
    assert.ok(decodeJson(enc('{"$bytes":""}')) instanceof Uint8Array)
    for (const bad of ['"AQI"', '"AQIDB"', '"*QID"', '"AQI*"', '"AQ*D"', '"A==="', '"=AQI"', '"AQ-_"', '3', 'null']) {
      assert.throws(() => decodeJson(enc(`{"$bytes":${bad}}`)), malformed(/bad \$bytes tag/), bad)
    }
  })

  test('a tag is only an object whose single key is the tag', () => {
    assert.deepEqual(decodeJson(enc('{"$bigint":"5","x":1}')), { $bigint: '5', x: 1 })
    assert.deepEqual(decodeJson(enc('{"$bytes":"AQID","x":1}')), { $bytes: 'AQID', x: 1 })
    assert.deepEqual(decodeJson(enc('{"$other":"5"}')), { $other: '5' })
    assert.deepEqual(decodeJson(enc('["$bigint"]')), ['$bigint'])
    assert.deepEqual(decodeJson(enc('{"a":null}')), { a: null })
    assert.deepEqual(decodeJson(enc('{"a":{"$bigint":"7"}}')), { a: 7n })
  })

  test('encodeJson: bigint, bytes (views and Buffers) and plain values, as tags', () => {
    assert.equal(text(encodeJson({ n: -5n, s: 'x', k: 1 })), '{"n":{"$bigint":"-5"},"s":"x","k":1}')
    const backing = new Uint8Array([9, 1, 2, 3, 9])
    assert.equal(text(encodeJson(backing.subarray(1, 4))), '{"$bytes":"AQID"}', 'only the view, not its whole buffer')
    assert.equal(text(encodeJson(Buffer.from([1, 2]))), '{"$bytes":"AQI="}')
    assert.equal(text(encodeJson([1n])), '[{"$bigint":"1"}]')
    assert.throws(() => encodeJson(undefined), (e: unknown) => e instanceof TypeError && /not JSON-serializable/.test(e.message))
    assert.throws(() => encodeJson(() => 1), TypeError)
  })

  test('decodeJson errors name the codec and keep the cause', () => {
    assert.throws(() => decodeJson(enc('{'), 'ask'), (e: unknown) => e instanceof MalformedMessageError && /^Malformed message for ask: not valid JSON \(/.test(e.message) && e.cause instanceof SyntaxError)
    assert.throws(() => decodeJson(new Uint8Array([0xff])), (e: unknown) => e instanceof MalformedMessageError && e.cause instanceof TypeError)
  })
})

describe('JSON codec', () => {
  const Ask = z.object({ cid: z.string(), price: z.bigint() })

  test('maxBytes must be a positive safe integer', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) {
      assert.throws(() => createCodec(Ask, { maxBytes: bad }), (e: unknown) => e instanceof RangeError && /maxBytes must be a positive integer/.test(e.message), String(bad))
      assert.throws(() => createBinaryCodec(Ask, { maxBytes: bad }), RangeError, String(bad))
    }
    assert.equal(createCodec(Ask, { maxBytes: 1 }).maxBytes, 1)
    assert.equal(createBinaryCodec(Ask, { maxBytes: 1 }).maxBytes, 1)
  })

  test('names: the given one, else json / binary', () => {
    assert.equal(createCodec(Ask, { maxBytes: 10 }).name, 'json')
    assert.equal(createCodec(Ask, { maxBytes: 10, name: 'ask' }).name, 'ask')
    assert.equal(createBinaryCodec(Ask, { maxBytes: 10 }).name, 'binary')
    assert.equal(createBinaryCodec(Ask, { maxBytes: 10, name: 'chunk' }).name, 'chunk')
  })

  test('the cap is inclusive: exactly maxBytes passes both ways, one more fails, and says which side', () => {
    const value = { cid: 'a', price: 2n }
    const size = encodeJson(value).length
    const exact = createCodec(Ask, { maxBytes: size, name: 'ask' })
    assert.deepEqual(exact.decode(exact.encode(value)), value)
    const short = createCodec(Ask, { maxBytes: size - 1, name: 'ask' })
    assert.throws(() => short.encode(value), tooLarge(size, size - 1, /^Encoded message \(ask\) of/))
    assert.throws(() => short.decode(encodeJson(value)), tooLarge(size, size - 1, /^Message \(ask\) of/))
    const unnamed = createCodec(Ask, { maxBytes: size - 1 })
    assert.throws(() => unnamed.decode(encodeJson(value)), tooLarge(size, size - 1, /^Message of/))
  })

  test('schema violations: counted, listed (three at most) with their paths, named', () => {
    const c = createCodec(z.object({ a: z.string(), b: z.string(), c: z.string(), d: z.string() }), { maxBytes: 1024, name: 'four' })
    assert.throws(() => c.decode(enc('{"a":"x","b":"y","c":"z","d":1}')), (e: unknown) =>
      e instanceof MalformedMessageError && /^Malformed message for four: schema violation \(1 issue: d: /.test(e.message) &&
      e.issues.length === 1 && e.issues[0].code === 'invalid_type' && e.issues[0].path[0] === 'd')
    assert.throws(() => c.decode(enc('{}')), (e: unknown) =>
      e instanceof MalformedMessageError && /schema violation \(4 issues: a: [^;]+; b: [^;]+; c: [^;)]+\)/.test(e.message) && !/d: /.test(e.message.split('\n')[0]) &&
      e.issues.length === 4 && e.issues.map((i) => i.path.join('.')).join() === 'a,b,c,d')
    const root = createCodec(z.string(), { maxBytes: 64 })
    assert.throws(() => root.decode(enc('1')), (e: unknown) => e instanceof MalformedMessageError && /\(1 issue: \(root\): /.test(e.message) && e.issues[0].path.length === 0)
    assert.deepEqual(root.decode(enc('"ok"')), 'ok')
  })

  test('issue paths: nested keys joined with dots, array indices kept as numbers, symbols as their names', () => {
    const c = createCodec(z.object({ a: z.object({ list: z.array(z.string()) }) }), { maxBytes: 256 })
    assert.throws(() => c.decode(enc('{"a":{"list":["x",1]}}')), (e: unknown) =>
      e instanceof MalformedMessageError && /\(1 issue: a\.list\.1: /.test(e.message) && e.issues[0].path.length === 3 && e.issues[0].path[2] === 1)
    const key = Symbol('k')
    const sym = createCodec(z.object({ [key]: z.string() }), { maxBytes: 256 })
    assert.throws(() => sym.encode({ [key]: 1 } as never), (e: unknown) => e instanceof MalformedMessageError && e.issues[0].path[0] === 'Symbol(k)')
  })

  test('schema output is returned (defaults and transforms apply)', () => {
    const c = createCodec(z.object({ n: z.number().default(3) }), { maxBytes: 64 })
    assert.deepEqual(c.decode(enc('{}')), { n: 3 })
    assert.equal(text(c.encode({} as { n: number })), '{"n":3}')
  })
})

describe('binary codec', () => {
  const H = z.object({ i: z.number() })

  test('header-length cap: a header longer than maxHeaderBytes is refused even when the frame holds all of it', () => {
    const c = createBinaryCodec(z.object({ pad: z.string() }), { maxBytes: 4096, maxHeaderBytes: 64 })
    const header = enc(JSON.stringify({ pad: 'x'.repeat(60) })) // 70 bytes of valid header, inside the frame
    assert.ok(header.length > 64)
    assert.throws(() => c.decode(frameOf(header.length, header, new Uint8Array(8))), malformed(new RegExp(`header length ${header.length} exceeds 64 bytes`)))
    const named = createBinaryCodec(z.object({ pad: z.string() }), { maxBytes: 4096, maxHeaderBytes: 64, name: 'chunk' })
    assert.throws(() => named.decode(frameOf(header.length, header)), malformed(/^Malformed message for chunk: header length 70 exceeds/))
    // the same header under a cap it fits in decodes: only the cap refused it
    const roomy = createBinaryCodec(z.object({ pad: z.string() }), { maxBytes: 4096, maxHeaderBytes: header.length })
    assert.equal(roomy.decode(frameOf(header.length, header, new Uint8Array(8))).header.pad.length, 60)
    assert.throws(() => c.encode({ header: { pad: 'x'.repeat(60) }, body: new Uint8Array(0) }), tooLarge(header.length, 64, /^Encoded header of/))
  })

  test('the default header cap is MAX_BINARY_HEADER_BYTES, inclusive', () => {
    const c = createBinaryCodec(z.object({ pad: z.string() }), { maxBytes: 1 << 20, name: 'chunk' })
    const fits = { pad: 'x'.repeat(MAX_BINARY_HEADER_BYTES - 10) } // {"pad":"..."} = 10 bytes of JSON around it
    assert.equal(encodeJson(fits).length, MAX_BINARY_HEADER_BYTES)
    assert.equal(c.decode(c.encode({ header: fits, body: new Uint8Array(1) })).header.pad.length, MAX_BINARY_HEADER_BYTES - 10)
    const over = { pad: 'x'.repeat(MAX_BINARY_HEADER_BYTES - 9) }
    assert.throws(() => c.encode({ header: over, body: new Uint8Array(0) }), tooLarge(MAX_BINARY_HEADER_BYTES + 1, MAX_BINARY_HEADER_BYTES, /^Encoded header \(chunk\) of/))
    const h = encodeJson(over)
    assert.throws(() => c.decode(frameOf(h.length, h)), malformed(/exceeds 16384 bytes/))
  })

  test('frame layout: u32 big-endian header length, header JSON, raw body', () => {
    const c = createBinaryCodec(H, { maxBytes: 1024 })
    const frame = c.encode({ header: { i: 7 }, body: new Uint8Array([0xaa, 0xbb]) })
    assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 7])
    assert.equal(text(frame.subarray(4, 11)), '{"i":7}')
    assert.deepEqual([...frame.subarray(11)], [0xaa, 0xbb])
    assert.equal(frame.length, BINARY_HEADER_PREFIX_BYTES + 7 + 2)
    const long = createBinaryCodec(z.object({ s: z.string() }), { maxBytes: 1 << 20, maxHeaderBytes: 1 << 17 })
    const f2 = long.encode({ header: { s: 'y'.repeat(70_000) }, body: new Uint8Array(0) })
    assert.equal(new DataView(f2.buffer).getUint32(0), 70_008)
    assert.deepEqual([...f2.subarray(0, 4)], [0, 1, 0x11, 0x78])
  })

  test('decode reads a frame inside a larger buffer (byteOffset honoured)', () => {
    const c = createBinaryCodec(H, { maxBytes: 1024 })
    const frame = c.encode({ header: { i: 3 }, body: new Uint8Array([5, 6]) })
    const big = new Uint8Array(frame.length + 10).fill(0xee)
    big.set(frame, 5)
    const out = c.decode(big.subarray(5, 5 + frame.length))
    assert.equal(out.header.i, 3)
    assert.deepEqual([...out.body], [5, 6])
  })

  test('header length at the frame end: exactly filling the frame is fine, one byte more is not', () => {
    const c = createBinaryCodec(H, { maxBytes: 1024, maxHeaderBytes: 64 })
    const h = enc('{"i":1}')
    const exact = c.decode(frameOf(h.length, h))
    assert.equal(exact.header.i, 1)
    assert.equal(exact.body.length, 0)
    const pastEnd = frameOf(h.length + 1, h)
    assert.throws(() => c.decode(pastEnd), malformed(new RegExp(`header length ${h.length + 1} runs past the frame end \\(${pastEnd.length} bytes\\)`)))
    const named = createBinaryCodec(H, { maxBytes: 1024, name: 'chunk' })
    assert.throws(() => named.decode(pastEnd), malformed(/^Malformed message for chunk: header length 8 runs past/))
    // a header of exactly maxHeaderBytes passes the cap
    const c7 = createBinaryCodec(H, { maxBytes: 1024, maxHeaderBytes: h.length })
    assert.equal(c7.decode(frameOf(h.length, h, new Uint8Array([1]))).body[0], 1)
  })

  test('short frames: under 4 bytes is refused as such; 4 bytes reach the (empty) header', () => {
    const c = createBinaryCodec(H, { maxBytes: 1024, name: 'chunk' })
    for (const len of [0, 1, 3]) {
      assert.throws(() => c.decode(new Uint8Array(len)), (e: unknown) => malformed(new RegExp(`^Malformed message for chunk: frame of ${len} bytes is shorter than the header prefix`))(e))
    }
    assert.throws(() => c.decode(new Uint8Array(4)), malformed(/not valid JSON/))
  })

  test('the message cap is inclusive on both sides and counts prefix, header and body', () => {
    const h = { i: 1 }
    const total = 4 + encodeJson(h).length + 10
    const c = createBinaryCodec(H, { maxBytes: total, name: 'chunk' })
    const frame = c.encode({ header: h, body: new Uint8Array(10) })
    assert.equal(frame.length, total)
    assert.equal(c.decode(frame).body.length, 10)
    const small = createBinaryCodec(H, { maxBytes: total - 1, name: 'chunk' })
    assert.throws(() => small.encode({ header: h, body: new Uint8Array(10) }), tooLarge(total, total - 1, /^Encoded message \(chunk\) of/))
    assert.throws(() => small.decode(frame), tooLarge(total, total - 1, /^Message \(chunk\) of/))
  })

  test('encode: body must be bytes; the header is validated against the schema', () => {
    const c = createBinaryCodec(H, { maxBytes: 1024, name: 'chunk' })
    assert.throws(() => c.encode({ header: { i: 1 }, body: [1, 2] as never }), (e: unknown) => e instanceof TypeError && e.message === 'binary codec (chunk): body must be a Uint8Array')
    assert.throws(() => createBinaryCodec(H, { maxBytes: 1024 }).encode({ header: { i: 1 }, body: 'ab' as never }), (e: unknown) => e instanceof TypeError && e.message === 'binary codec: body must be a Uint8Array')
    assert.throws(() => c.encode({ header: { i: 'x' } as never, body: new Uint8Array(0) }), malformed(/schema violation/))
    const h = enc('{"i":"x"}')
    assert.throws(() => c.decode(frameOf(h.length, h)), malformed(/schema violation \(1 issue: i: /))
  })
})

describe('streams', () => {
  const P = protocolId('test/codec', 1)
  const Msg = z.object({ text: z.string() })
  const codec = createCodec(Msg, { maxBytes: 256, name: 'msg' })

  async function pair() {
    const net = createMemoryNetwork()
    const a = net.createTransport({ peerId: 'a' })
    const b = net.createTransport({ peerId: 'b' })
    return { a, b, stop: async () => { await a.stop(); await b.stop() } }
  }

  test('request: sends, reads the reply, closes our side', async () => {
    const { a, b, stop } = await pair()
    let seenEof = false
    await b.handle(P, async (s) => {
      const q = await readMessage(s, codec)
      await sendMessage(s, codec, { text: q.text.toUpperCase() })
      await s.read().catch((e) => { seenEof = e instanceof StreamClosedError })
    })
    const s = await a.dial('b', P)
    assert.deepEqual(await request(s, codec, codec, { text: 'hi' }), { text: 'HI' })
    for (let i = 0; i < 50 && !seenEof; i++) await new Promise((r) => setImmediate(r))
    assert.ok(seenEof, 'the server saw our side close')
    await stop()
  })

  test('a malformed reply: the error names the peer and protocol, and the stream is reset', async () => {
    const { a, b, stop } = await pair()
    await b.handle(P, async (s) => {
      await s.read()
      await s.write(enc('{"text":5}'))
      await s.read().catch(() => {})
    })
    const s = await a.dial('b', P)
    await assert.rejects(request(s, codec, codec, { text: 'hi' }), (e: unknown) =>
      e instanceof MalformedMessageError && e.details.peer === 'b' && e.details.protocol === P)
    assert.equal(s.closed, true, 'stream reset after a protocol violation')
    await stop()
  })

  test('an oversized frame: MessageTooLargeError with peer and protocol, stream reset', async () => {
    const { a, b, stop } = await pair()
    await b.handle(P, async (s) => { await s.write(new Uint8Array(300).fill(0x20)); await s.read().catch(() => {}) })
    const s = await a.dial('b', P)
    await assert.rejects(readMessage(s, codec), (e: unknown) => e instanceof MessageTooLargeError && e.details.peer === 'b' && e.details.protocol === P && e.size === 300)
    assert.equal(s.closed, true)
    await stop()
  })

  test('an error of the schema itself passes through readMessage unchanged (only codec errors get peer details)', async () => {
    const { a, b, stop } = await pair()
    const boom = new Error('schema code failed')
    const throwing = createCodec(z.custom<string>(() => { throw boom }), { maxBytes: 64 })
    await b.handle(P, async (s) => { await s.write(enc('"x"')); await s.read().catch(() => {}) })
    const s = await a.dial('b', P)
    await assert.rejects(readMessage(s, throwing), (e: unknown) => e === boom)
    assert.equal(s.closed, true)
    await stop()
  })

  test('request refuses to send an invalid value and resets the stream', async () => {
    const { a, b, stop } = await pair()
    let got = 0
    await b.handle(P, async (s) => { for await (const _ of s) got++ })
    const s = await a.dial('b', P)
    await assert.rejects(request(s, codec, codec, { text: 1 } as never), MalformedMessageError)
    assert.equal(s.closed, true)
    assert.equal(got, 0)
    await stop()
  })
})
