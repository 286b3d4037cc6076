import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { z } from 'zod'
import { createBinaryCodec, createCodec, decodeJson, encodeJson } from './codec.js'
import { MalformedMessageError, MessageTooLargeError } from './errors.js'
import { parseProtocolId, protocolId } from './types.js'

const enc = (s: string) => new TextEncoder().encode(s)

describe('tagged JSON', () => {
  test('bigint and bytes round-trip (property)', () => {
    const leaf = fc.oneof(fc.bigInt(), fc.uint8Array({ maxLength: 64 }), fc.string(), fc.integer(), fc.boolean(), fc.constant(null))
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string().filter((k) => !k.startsWith('$') && k !== '__proto__'), tie('node'), { maxKeys: 4, noNullPrototype: true })),
    })).node
    fc.assert(fc.property(value, (v) => { assert.deepEqual(decodeJson(encodeJson(v)), v) }), { numRuns: 300 })
  })

  test('Buffer encodes as bytes, not as {type, data}', () => {
    const out = decodeJson(encodeJson({ b: Buffer.from([1, 2, 3]) })) as { b: Uint8Array }
    assert.deepEqual([...out.b], [1, 2, 3])
    assert.equal(new TextDecoder().decode(encodeJson({ n: 5n })), '{"n":{"$bigint":"5"}}')
  })

  test('bad tags, bad JSON and bad UTF-8 are MalformedMessageError', () => {
    for (const s of ['{"$bigint":"1.5"}', '{"$bigint":5}', '{"$bytes":"***"}', '{"$bytes":"abc"}', '{', '']) {
      assert.throws(() => decodeJson(enc(s)), MalformedMessageError, s)
    }
    assert.throws(() => decodeJson(new Uint8Array([0x7b, 0xff, 0x7d])), MalformedMessageError)
  })
})

describe('codecs', () => {
  const Ask = z.object({ cid: z.string(), price: z.bigint() })

  test('size cap is checked before decoding', () => {
    const c = createCodec(Ask, { maxBytes: 40 })
    // garbage that is also too big: the cap wins, the parser never runs
    assert.throws(() => c.decode(new Uint8Array(41).fill(0xff)), (e: unknown) => e instanceof MessageTooLargeError && e.size === 41 && e.maxBytes === 40)
    assert.throws(() => c.encode({ cid: 'x'.repeat(40), price: 1n }), MessageTooLargeError)
    assert.deepEqual(c.decode(c.encode({ cid: 'a', price: 2n })), { cid: 'a', price: 2n })
  })

  test('schema violations carry zod issues; encode refuses invalid values', () => {
    const c = createCodec(Ask, { maxBytes: 1024, name: 'ask' })
    try {
      c.decode(enc('{"cid":1,"price":{"$bigint":"3"}}'))
      assert.fail('should throw')
    } catch (e) {
      assert.ok(e instanceof MalformedMessageError)
      assert.deepEqual(e.issues.map((i) => i.path), [['cid']])
      assert.match(e.message, /ask/)
      assert.match(e.message, /Fix:/)
    }
    assert.throws(() => c.encode({ cid: 'a', price: 1 } as never), MalformedMessageError)
  })

  test('binary codec: raw body, view not copy, header checks', () => {
    const c = createBinaryCodec(z.object({ i: z.number() }), { maxBytes: 2 << 20, maxHeaderBytes: 64 })
    const body = new Uint8Array(1 << 20).map((_, k) => k & 0xff)
    const frame = c.encode({ header: { i: 7 }, body })
    assert.ok(frame.length < body.length + 32, 'no base64 bloat')
    const out = c.decode(frame)
    assert.equal(out.header.i, 7)
    assert.ok(Buffer.from(out.body).equals(Buffer.from(body)))
    assert.equal(out.body.buffer, frame.buffer, 'body is a view into the frame')
    const bad = (hlen: number, rest: Uint8Array) => { const f = new Uint8Array(4 + rest.length); new DataView(f.buffer).setUint32(0, hlen); f.set(rest, 4); return f }
    assert.throws(() => c.decode(new Uint8Array(3)), MalformedMessageError)
    assert.throws(() => c.decode(bad(100, enc('{}'))), MalformedMessageError) // header too long
    assert.throws(() => c.decode(bad(50, enc('{}'))), MalformedMessageError) // past the end
    assert.throws(() => c.decode(bad(2, enc('{}'))), MalformedMessageError) // schema
    assert.throws(() => c.decode(new Uint8Array((2 << 20) + 1)), MessageTooLargeError)
    assert.throws(() => c.encode({ header: { i: 1 }, body: new Uint8Array(2 << 20) }), MessageTooLargeError)
  })

  test('binary codec: encodeParts is encode without copying the body', () => {
    const c = createBinaryCodec(z.object({ i: z.number(), s: z.string() }), { maxBytes: 2 << 20 })
    fc.assert(fc.property(fc.integer(), fc.string(), fc.uint8Array({ maxLength: 5000 }), (i, str, body) => {
      const parts = c.encodeParts!({ header: { i, s: str }, body })
      assert.equal(parts.length, 2)
      assert.equal(parts[1], body, 'the body itself, not a copy')
      assert.deepEqual(Buffer.concat(parts), Buffer.from(c.encode({ header: { i, s: str }, body })))
    }))
    assert.throws(() => c.encodeParts!({ header: { i: 1, s: '' }, body: new Uint8Array(2 << 20) }), MessageTooLargeError)
    assert.throws(() => c.encodeParts!({ header: { i: 'x', s: '' } as never, body: new Uint8Array(1) }), MalformedMessageError)
  })
})

describe('protocol ids', () => {
  test('build and parse', () => {
    assert.equal(protocolId('cdn/fetch', 1), '/souk/cdn/fetch/1')
    assert.deepEqual(parseProtocolId('/souk/cdn/fetch/12'), { name: 'cdn/fetch', major: 12 })
    assert.equal(parseProtocolId('/ipfs/id/1.0.0'), undefined)
    assert.throws(() => protocolId('Bad Name', 1), TypeError)
    assert.throws(() => protocolId('ok', 1.5), RangeError)
  })
})

// The index loads libp2p (seconds): imported here, last, so that the tests above fail fast under mutation testing.
test('public API of src/net', async () => {
  const api = await import('./index.js')
  assert.deepEqual(Object.keys(api).sort(), [
    'AbortedError', 'BINARY_HEADER_PREFIX_BYTES', 'DEFAULT_DIAL_TIMEOUT_MS', 'DEFAULT_MAX_INBOUND_PER_IP', 'DEFAULT_MAX_INBOUND_PER_SUBNET', 'DEFAULT_MAX_INBOUND_STREAMS', 'DEFAULT_MAX_MESSAGE_BYTES',
    'DialError', 'LIBP2P_FRAME_PREFIX_BYTES', 'LIBP2P_MAX_OUTBOUND_STREAMS', 'LIBP2P_STREAM_WINDOW_BYTES', 'LIBP2P_WRITE_BUFFER_BYTES', 'MAX_BINARY_HEADER_BYTES', 'MAX_CHUNK_BYTES',
    'MAX_CONTROL_MESSAGE_BYTES', 'MEMORY_ADDRESS_PREFIX', 'MEMORY_RECEIVE_WINDOW_BYTES', 'MalformedMessageError', 'MessageTooLargeError',
    'NetError', 'PeerBannedError', 'ProtocolViolationError', 'REMOTE_END_TIMEOUT_MS', 'StreamClosedError', 'TimeoutError', 'TransportStoppedError', 'createBinaryCodec', 'createCodec',
    'createLibp2pTransport', 'createMemoryNetwork', 'decodeJson', 'encodeJson', 'generateIdentity', 'ipAndSubnet', 'isProtocolViolation',
    'parseProtocolId', 'peerIdFromIdentity', 'protocolId', 'readMessage', 'releaseWhenRemoteEnds', 'request', 'sendMessage',
  ])
})
