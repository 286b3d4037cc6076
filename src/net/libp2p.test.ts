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

describe('libp2p inbound limits', () => {
  test('ipAndSubnet: IPv4 /24, IPv6 /48, loopback flagged, other addresses none', async () => {
    const { ipAndSubnet } = await import('./libp2p.js')
    assert.deepEqual(ipAndSubnet('/ip4/10.1.2.3/tcp/4001'), { ip: '10.1.2.3', subnet: '10.1.2.0/24', loopback: false })
    assert.deepEqual(ipAndSubnet('/ip4/127.0.0.1/tcp/1/p2p/x'), { ip: '127.0.0.1', subnet: '127.0.0.0/24', loopback: true })
    assert.deepEqual(ipAndSubnet('/ip6/2001:db8:1:2::5/tcp/1'), { ip: '2001:db8:1:2::5', subnet: '2001:db8:1::/48', loopback: false })
    assert.deepEqual(ipAndSubnet('/ip6/::1/tcp/1'), { ip: '::1', subnet: '0:0:0::/48', loopback: true })
    assert.equal(ipAndSubnet('/dns4/example.com/tcp/1'), undefined)
  })

  test('at most maxInboundPerIp connections from one address: new identities beyond it are refused, room frees when one leaves', async () => {
    const { createLibp2pTransport: create } = await import('./libp2p.js')
    const { memoryLogger } = await import('../core/logger.js')
    const log = memoryLogger()
    const ECHO = protocolId('limit-echo', 1)
    const b = await create({ maxInboundPerIp: 2, limitLoopback: true, logger: log })
    await b.handle(ECHO, async (s) => { for await (const f of s) await s.write(f) })
    const addr = b.addresses()[0]
    const peers = await Promise.all([0, 1, 2].map(() => create()))
    try {
      const ping = async (t: Transport) => { const s = await t.dial(addr, ECHO, { timeoutMs: 5000 }); await s.write(new Uint8Array([1])); await s.read({ timeoutMs: 5000 }); return s }
      await ping(peers[0])
      await ping(peers[1])
      await assert.rejects(ping(peers[2]), NetError, 'a third identity from the same address is refused')
      assert.ok(log.entries.some((e) => e.level === 'warn' && e.msg === 'refusing inbound connections: too many from one address or subnet'))
      await peers[0].stop()
      for (let i = 0; i < 100 && (b as Libp2pTransport).node.getConnections().length > 1; i++) await new Promise((r) => setTimeout(r, 20))
      await ping(peers[2])
      // Loopback is exempt unless asked: a default transport takes all three.
      const c = await create()
      await c.handle(ECHO, async (s) => { for await (const f of s) await s.write(f) })
      for (const p of [peers[1], peers[2]]) { const s = await p.dial(c.addresses()[0], ECHO, { timeoutMs: 5000 }); await s.write(new Uint8Array([1])); await s.read({ timeoutMs: 5000 }) }
      const d = await create()
      const s = await d.dial(c.addresses()[0], ECHO, { timeoutMs: 5000 }); await s.write(new Uint8Array([1])); await s.read({ timeoutMs: 5000 })
      await Promise.all([c.stop(), d.stop()])
    } finally {
      await Promise.all([b.stop(), ...peers.map((p) => p.stop())])
    }
  })
})
