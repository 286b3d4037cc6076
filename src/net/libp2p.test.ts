import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2pTransport, generateIdentity, peerIdFromIdentity, type Libp2pTransport } from './libp2p.js'
import { runTransportCompliance } from './transport.compliance.js'
import { NetError } from './errors.js'
import { protocolId, type Transport } from './types.js'

let made: Transport[] = []
runTransportCompliance('libp2p', {
  async setup(opts) { const t = await createLibp2pTransport(opts); made.push(t); return t },
  async teardown() { await Promise.all(made.map((t) => t.stop())); made = [] },
  // vanish abruptly: reset every connection (no graceful close), then stop
  async vanish(t) {
    for (const c of (t as Libp2pTransport).node.getConnections()) c.abort(new Error('vanished'))
    await t.stop()
  },
})

describe('libp2p transport', () => {
  test('identity persists across restarts', async () => {
    const key = await generateIdentity()
    const t1 = await createLibp2pTransport({ privateKey: key })
    assert.equal(t1.peerId, peerIdFromIdentity(key))
    const exported = t1.exportIdentity()
    await t1.stop()
    const t2 = await createLibp2pTransport({ privateKey: exported })
    assert.equal(t2.peerId, t1.peerId)
    await t2.stop()
    await assert.rejects(createLibp2pTransport({ privateKey: new Uint8Array([1, 2, 3]) }), NetError)
  })

  test('dial by peer id once the address is known; bad addresses give DialError', async () => {
    const a = await createLibp2pTransport(), b = await createLibp2pTransport()
    try {
      const P = protocolId('test/id', 1)
      await b.handle(P, async (s) => { await s.write(await s.read()) })
      await (await a.dial(b.addresses()[0], P)).close()
      const s = await a.dial(b.peerId, P)
      await s.write(new Uint8Array([1]))
      assert.deepEqual([...await s.read({ timeoutMs: 5000 })], [1])
      await assert.rejects(a.dial('/ip4/127.0.0.1/tcp/1', P), NetError)
      await assert.rejects(a.dial('not a peer', P), NetError)
    } finally {
      await a.stop(); await b.stop()
    }
  })
})
