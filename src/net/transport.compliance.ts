/**
 * The compliance suite every `Transport` implementation must pass (run from memory.test.ts and libp2p.test.ts).
 *
 * @example
 * ```ts
 * import { runTransportCompliance } from './transport.compliance.js'
 * const net = createMemoryNetwork()
 * runTransportCompliance('memory', { setup: async (o) => net.createTransport(o), teardown: async () => {} })
 * ```
 */
import { describe, test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { memoryLogger, type Logger } from '../core/logger.js'
import { createBinaryCodec, createCodec, readMessage, request, sendMessage } from './codec.js'
import { AbortedError, DialError, MalformedMessageError, MessageTooLargeError, NetError, PeerBannedError, ProtocolViolationError, StreamClosedError, TimeoutError } from './errors.js'
import { protocolId, type MessageStream, type Transport, type TransportOptions } from './types.js'

export interface ComplianceHooks {
  /** Creates one started transport (a peer). Called several times per test. */
  setup(opts: TransportOptions): Promise<Transport>
  /** Called after each test: stop every transport created since the last teardown. */
  teardown(): Promise<void>
  /** Makes a peer vanish abruptly (default: `t.stop()`). */
  vanish?(t: Transport): Promise<void>
}

const ECHO = protocolId('test/echo', 1)
const Msg = z.object({ n: z.number().int(), amount: z.bigint(), key: z.instanceof(Uint8Array), text: z.string() })
const msgCodec = createCodec(Msg, { maxBytes: 4096, name: 'test-msg' })
const chunkCodec = createBinaryCodec(z.object({ index: z.number().int(), size: z.number().int() }), { maxBytes: 2 * 1024 * 1024, name: 'test-chunk' })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}
/** Rejects if `p` takes longer than `ms`: a hang is a failure, not a stuck test run. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`${what} hung for ${ms} ms`)), ms) })]).finally(() => clearTimeout(t))
}
function deferred<T>() {
  let resolve!: (v: T) => void, reject!: (e: unknown) => void
  const promise = new Promise<T>((a, b) => { resolve = a; reject = b })
  return { promise, resolve, reject }
}
const addr = (t: Transport) => t.addresses()[0]
async function echoAll(s: MessageStream) { for await (const f of s) await s.write(f) }

export function runTransportCompliance(name: string, hooks: ComplianceHooks): void {
  describe(`Transport compliance: ${name}`, () => {
    afterEach(() => hooks.teardown())
    const pair = async (bOpts: TransportOptions = {}, aOpts: TransportOptions = {}) => {
      const blog = memoryLogger()
      const a = await hooks.setup({ logger: memoryLogger(), ...aOpts })
      const b = await hooks.setup({ logger: blog, ...bOpts })
      return { a, b, blog: (bOpts.logger as ReturnType<typeof memoryLogger>) ?? blog }
    }

    test('peer id and addresses', async () => {
      const { a, b } = await pair()
      assert.equal(typeof a.peerId, 'string')
      assert.notEqual(a.peerId, b.peerId)
      assert.ok(b.addresses().length > 0)
      assert.ok(addr(b).includes(b.peerId), 'an address names its peer')
    })

    test('request/response with typed codec (bigint, bytes) both ways', async () => {
      const { a, b } = await pair()
      const seen: string[] = []
      await b.handle(ECHO, async (s, remote) => {
        seen.push(remote)
        const m = await readMessage(s, msgCodec)
        await sendMessage(s, msgCodec, { ...m, n: m.n + 1, amount: m.amount * 2n })
      })
      const s = await a.dial(addr(b), ECHO)
      assert.equal(s.remotePeer, b.peerId)
      assert.equal(s.protocol, ECHO)
      const key = new Uint8Array([0, 1, 254, 255])
      const res = await request(s, msgCodec, msgCodec, { n: 1, amount: 2n ** 70n, key, text: 'héllo' }, { timeoutMs: 5000 })
      assert.deepEqual(res, { n: 2, amount: 2n ** 71n, key, text: 'héllo' })
      assert.deepEqual(seen, [a.peerId])
    })

    test('clean close ends the reader: iterator returns, read throws StreamClosedError(eof)', async () => {
      const { a, b } = await pair()
      await b.handle(ECHO, async (s) => { await s.write(new Uint8Array([1])); await s.write(new Uint8Array([2])) })
      const s = await a.dial(addr(b), ECHO)
      const got: number[] = []
      for await (const f of s) got.push(f[0])
      assert.deepEqual(got, [1, 2])
      await assert.rejects(s.read(), (e: unknown) => e instanceof StreamClosedError && e.reason === 'eof')
    })

    test('many concurrent streams keep their messages apart', async () => {
      const { a, b } = await pair()
      await b.handle(ECHO, echoAll)
      const N = 40, M = 5
      await within(Promise.all(Array.from({ length: N }, async (_, i) => {
        const s = await a.dial(addr(b), ECHO)
        for (let j = 0; j < M; j++) {
          await sendMessage(s, msgCodec, { n: i * 100 + j, amount: BigInt(i), key: new Uint8Array([i]), text: `s${i}` })
          const r = await readMessage(s, msgCodec, { timeoutMs: 5000 })
          assert.equal(r.n, i * 100 + j)
          assert.equal(r.text, `s${i}`)
        }
        await s.close()
      })), 15000, 'concurrent streams')
    })

    test('1 MiB binary frames arrive byte-exact', async () => {
      const { a, b } = await pair()
      await b.handle(ECHO, async (s) => {
        for await (const f of s) {
          const { header, body } = chunkCodec.decode(f)
          assert.equal(body.length, header.size)
          await s.write(chunkCodec.encode({ header, body }))
        }
      })
      const s = await a.dial(addr(b), ECHO)
      for (let i = 0; i < 4; i++) {
        const body = new Uint8Array(1024 * 1024)
        for (let k = 0; k < body.length; k += 997) body[k] = (k * 31 + i) & 0xff
        body[body.length - 1] = 0xab
        await sendMessage(s, chunkCodec, { header: { index: i, size: body.length }, body })
        const r = await readMessage(s, chunkCodec, { timeoutMs: 10000 })
        assert.equal(r.header.index, i)
        assert.ok(Buffer.from(r.body).equals(Buffer.from(body)), `chunk ${i} differs`)
      }
      await s.close()
    })

    test('a frame written as parts arrives as one frame (their concatenation); the cap counts every part', async () => {
      const { a, b } = await pair({}, { maxMessageBytes: 1000 })
      await b.handle(ECHO, echoAll)
      const s = await a.dial(addr(b), ECHO)
      const parts = [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array(700).fill(3), new Uint8Array([4])]
      await s.write(parts)
      await s.write([])
      await s.write([new Uint8Array([9])])
      assert.deepEqual([...await s.read({ timeoutMs: 5000 })], [1, 2, ...new Uint8Array(700).fill(3), 4])
      assert.equal((await s.read({ timeoutMs: 5000 })).length, 0)
      assert.deepEqual([...await s.read({ timeoutMs: 5000 })], [9])
      await assert.rejects(s.write([new Uint8Array(600), new Uint8Array(401)]), MessageTooLargeError)
      await assert.rejects(s.write(['x' as unknown as Uint8Array]), TypeError)
      await s.write([new Uint8Array(600), new Uint8Array(400)])
      assert.equal((await s.read({ timeoutMs: 5000 })).length, 1000)
    })

    test('oversized frame: receiver rejects it with MessageTooLargeError, other streams keep working', async () => {
      const blog = memoryLogger()
      const { a, b } = await pair({ maxMessageBytes: 64 * 1024, logger: blog }, { maxMessageBytes: 4 * 1024 * 1024 })
      const caught = deferred<unknown>()
      await b.handle(ECHO, async (s) => {
        // echo at most 16 bytes back, so the only thing that can reject the big frame is the receiving side
        try { for await (const f of s) await s.write(f.subarray(0, 16)) } catch (e) { caught.resolve(e); throw e }
      })
      const good = await a.dial(addr(b), ECHO)
      const bad = await a.dial(addr(b), ECHO)
      await bad.write(new Uint8Array(100 * 1024)).catch(() => {})
      const e = await within(caught.promise, 5000, 'oversize rejection')
      assert.ok(e instanceof MessageTooLargeError, `got ${e}`)
      assert.equal(e.maxBytes, 64 * 1024)
      // the offender's stream is reset...
      await assert.rejects(within(bad.read(), 5000, 'read on reset stream'), StreamClosedError)
      // ...and the other stream and new ones still work
      await good.write(new Uint8Array([7]))
      assert.deepEqual([...await good.read({ timeoutMs: 5000 })], [7])
      const again = await a.dial(addr(b), ECHO)
      await again.write(new Uint8Array([8]))
      assert.deepEqual([...await again.read({ timeoutMs: 5000 })], [8])
      assert.ok(blog.entries.some((x) => x.level === 'warn' && x.fields?.code === 'NET_MESSAGE_TOO_LARGE'), 'the receiver logged the reason')
    })

    test('sender refuses a frame above its own cap', async () => {
      const { a, b } = await pair({}, { maxMessageBytes: 1000 })
      await b.handle(ECHO, echoAll)
      const s = await a.dial(addr(b), ECHO)
      await assert.rejects(s.write(new Uint8Array(1001)), MessageTooLargeError)
      await s.write(new Uint8Array(1000))
      assert.equal((await s.read({ timeoutMs: 5000 })).length, 1000)
    })

    test('malformed JSON and schema violations give MalformedMessageError; the offender is dropped', async () => {
      const blog = memoryLogger()
      const { a, b } = await pair({ logger: blog })
      const errors: unknown[] = []
      await b.handle(ECHO, async (s) => {
        try { await readMessage(s, msgCodec) } catch (e) { errors.push(e); throw e }
      })
      const s1 = await a.dial(addr(b), ECHO)
      await s1.write(new TextEncoder().encode('{"n": 1, '))
      const s2 = await a.dial(addr(b), ECHO)
      await s2.write(new TextEncoder().encode(JSON.stringify({ n: 'one', amount: { $bigint: '5' }, key: { $bytes: 'AAE=' }, text: 'x' })))
      const s3 = await a.dial(addr(b), ECHO)
      await s3.write(new TextEncoder().encode('{"n":1,"amount":{"$bigint":"12x"},"key":{"$bytes":"AA=="},"text":"x"}'))
      await until(() => errors.length === 3, 'three handler errors')
      for (const e of errors) assert.ok(e instanceof MalformedMessageError, `got ${e}`)
      const schemaErr = errors.find((e) => (e as MalformedMessageError).issues.length > 0) as MalformedMessageError
      assert.deepEqual(schemaErr.issues.map((i) => i.path), [['n']])
      for (const s of [s1, s2, s3]) await assert.rejects(within(s.read(), 5000, 'read after violation'), StreamClosedError)
      assert.equal(blog.entries.filter((x) => x.level === 'warn' && x.fields?.code === 'NET_MALFORMED_MESSAGE').length, 3)
    })

    test('an idle peer times a handler out: logged below ERROR, not a violation, the stream is reset', async () => {
      const blog = memoryLogger()
      const { a, b } = await pair({ logger: blog, banAfterViolations: 1 })
      await b.handle(ECHO, async (s) => { await readMessage(s, msgCodec, { timeoutMs: 50 }) })
      const s = await a.dial(addr(b), ECHO)
      // It opens the stream and never sends a message.
      await until(() => blog.entries.some((x) => x.msg === 'stream timed out waiting for the peer'), 'the idle-stream log line')
      const line = blog.entries.find((x) => x.msg === 'stream timed out waiting for the peer')!
      assert.equal(line.level, 'info')
      assert.equal(line.fields?.code, 'NET_TIMEOUT')
      assert.equal(blog.entries.filter((x) => x.level === 'error').length, 0)
      assert.equal(b.isBanned(a.peerId), false)
      await assert.rejects(within(s.read(), 5000, 'read after the timeout'), StreamClosedError)
    })

    test('a handler that throws ProtocolViolationError drops the stream with a warning and counts a violation', async () => {
      const blog = memoryLogger()
      const { a, b } = await pair({ logger: blog, banAfterViolations: 2 })
      await b.handle(ECHO, async (s, peer) => { await s.read(); throw new ProtocolViolationError('not entitled', { peer }) })
      for (let i = 0; i < 2; i++) {
        const s = await a.dial(addr(b), ECHO)
        await s.write(new Uint8Array(1))
        await assert.rejects(within(s.read(), 5000, 'read'), StreamClosedError)
      }
      await until(() => b.isBanned(a.peerId), 'ban after two violations')
      assert.equal(blog.entries.filter((x) => x.level === 'warn' && x.fields?.code === 'NET_PROTOCOL_VIOLATION').length, 2)
      assert.equal(blog.entries.filter((x) => x.level === 'error').length, 0)
    })

    test('banAfterViolations bans a repeat offender', async () => {
      const { a, b } = await pair({ banAfterViolations: 2 })
      await b.handle(ECHO, async (s) => { await readMessage(s, msgCodec) })
      for (let i = 0; i < 2; i++) {
        const s = await a.dial(addr(b), ECHO)
        await s.write(new TextEncoder().encode('nope'))
        await assert.rejects(within(s.read(), 5000, 'read'), StreamClosedError)
      }
      await until(() => b.isBanned(a.peerId), 'ban')
      await assert.rejects(within(a.dial(addr(b), ECHO, { timeoutMs: 5000 }), 6000, 'dial'), NetError)
    })

    test('a peer vanishing mid-stream surfaces StreamClosedError on the other side, quickly', async () => {
      const { a, b } = await pair()
      const c = await hooks.setup({ logger: memoryLogger() })
      const inHandler = deferred<void>()
      const handlerErr = deferred<unknown>()
      await b.handle(ECHO, async (s) => {
        inHandler.resolve()
        try { await s.read() } catch (e) { handlerErr.resolve(e) }
      })
      await c.handle(ECHO, async (s) => { await s.read().catch(() => {}) })
      // b vanishes while a waits for its reply
      const s = await a.dial(addr(b), ECHO)
      await s.write(new Uint8Array([1, 2, 3]))
      await inHandler.promise
      const t0 = Date.now()
      const reading = assert.rejects(within(s.read(), 3000, 'read from vanished peer'), StreamClosedError)
      await (hooks.vanish ?? ((t) => t.stop()))(b)
      await reading
      assert.ok(Date.now() - t0 < 3000)
      await assert.rejects(s.write(new Uint8Array([1])), StreamClosedError)
      // the dialer vanishes while c's handler waits: c sees it too, and a third peer keeps working
      const d = await hooks.setup({ logger: memoryLogger() })
      const caught = deferred<unknown>()
      await c.unhandle(ECHO)
      await c.handle(ECHO, async (st) => { try { await st.read(); await st.read() } catch (e) { caught.resolve(e) } })
      const s2 = await d.dial(addr(c), ECHO)
      await s2.write(new Uint8Array([9]))
      await sleep(20)
      await (hooks.vanish ?? ((t) => t.stop()))(d)
      const e = await within(caught.promise, 3000, 'handler read from vanished dialer')
      assert.ok(e instanceof StreamClosedError, `got ${e}`)
      void handlerErr
      await c.unhandle(ECHO)
      await c.handle(ECHO, echoAll)
      const s3 = await a.dial(addr(c), ECHO)
      await s3.write(new Uint8Array([5]))
      assert.deepEqual([...await s3.read({ timeoutMs: 5000 })], [5])
    })

    test('banned peer cannot dial; banning cuts open streams; dialing a peer we banned fails locally', async () => {
      const { a, b } = await pair()
      let calls = 0
      await b.handle(ECHO, async (s) => { calls++; await echoAll(s) })
      const open = await a.dial(addr(b), ECHO)
      await open.write(new Uint8Array([1]))
      await open.read({ timeoutMs: 5000 })
      const pending = assert.rejects(within(open.read(), 3000, 'read on banned stream'), StreamClosedError)
      await b.ban(a.peerId, 'test')
      assert.ok(b.isBanned(a.peerId))
      await pending
      const before = calls
      await assert.rejects(within(a.dial(addr(b), ECHO, { timeoutMs: 5000 }), 6000, 'dial'), (e: unknown) => e instanceof NetError && !(e instanceof TimeoutError))
      assert.equal(calls, before, 'the handler never ran for the banned peer')
      await b.handle(protocolId('test/other', 1), () => {})
      await assert.rejects(b.dial(addr(a), ECHO), PeerBannedError)
      b.unban(a.peerId)
      assert.equal(b.isBanned(a.peerId), false)
    })

    test('dialing an unhandled protocol gives DialError', async () => {
      const { a, b } = await pair()
      await b.handle(ECHO, echoAll)
      await assert.rejects(a.dial(addr(b), protocolId('test/echo', 2), { timeoutMs: 5000 }), DialError)
      await b.unhandle(ECHO)
      await assert.rejects(a.dial(addr(b), ECHO, { timeoutMs: 5000 }), DialError)
    })

    test('AbortSignal aborts a read (the stream stays usable) and a dial', async () => {
      const { a, b } = await pair()
      const go = deferred<void>()
      await b.handle(ECHO, async (s) => { await go.promise; await s.write(new Uint8Array([42])) })
      const s = await a.dial(addr(b), ECHO)
      const ac = new AbortController()
      const r = s.read({ signal: ac.signal })
      setTimeout(() => ac.abort(new Error('user cancelled')), 20)
      await assert.rejects(within(r, 3000, 'aborted read'), AbortedError)
      go.resolve()
      assert.deepEqual([...await s.read({ timeoutMs: 5000 })], [42])
      const ac2 = new AbortController()
      ac2.abort()
      await assert.rejects(a.dial(addr(b), ECHO, { signal: ac2.signal }), AbortedError)
    })

    test('read timeoutMs gives TimeoutError', async () => {
      const { a, b } = await pair()
      await b.handle(ECHO, async (s) => { await s.read().catch(() => {}) })
      const s = await a.dial(addr(b), ECHO)
      await assert.rejects(s.read({ timeoutMs: 30 }), TimeoutError)
      s.abort()
      await assert.rejects(s.read(), StreamClosedError)
    })

    test('handler errors are logged and do not crash the node', async () => {
      const blog = memoryLogger()
      const { a, b } = await pair({ logger: blog })
      let n = 0
      await b.handle(ECHO, async (s) => {
        if (n++ === 0) throw new Error('boom')
        await echoAll(s)
      })
      const s1 = await a.dial(addr(b), ECHO)
      await assert.rejects(within(s1.read(), 3000, 'read after handler error'), StreamClosedError)
      await until(() => blog.entries.some((x) => x.level === 'error' && String(x.fields?.reason).includes('boom')), 'error log')
      const s2 = await a.dial(addr(b), ECHO)
      await s2.write(new Uint8Array([3]))
      assert.deepEqual([...await s2.read({ timeoutMs: 5000 })], [3])
    })

    test('stopped transport refuses work', async () => {
      const { a, b } = await pair()
      await a.stop()
      await a.stop()
      await assert.rejects(a.dial(addr(b), ECHO), NetError)
    })
  })
}

export type { Logger }
