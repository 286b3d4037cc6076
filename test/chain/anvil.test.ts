/**
 * Souk against a chain that is not ours (issue 15): Foundry's anvil as a separate process on 127.0.0.1. The
 * contracts deploy from one of its dev accounts, fresh keys are funded from it, and the CDN market runs its real
 * roles over the memory transport, settling on anvil: every chunk paid, the caches' winners redeemed on anvil's
 * chain (read back from its events), and a killed chain process fails the next call with a typed ChainError.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { parseEther, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAddress } from 'viem/accounts'
import { createChain } from '../../src/chain/index.js'
import { ChainUnreachableError } from '../../src/chain/errors.js'
import { write } from '../../src/chain/tx.js'
import { abis } from '../../src/chain/index.js'
import { systemClock } from '../../src/core/clock.js'
import { seededRng } from '../../src/crypto/rng.js'
import { createMemoryNetwork } from '../../src/net/index.js'
import { deploySouk } from '../../src/payments/deploy.js'
import { runCdnScenario } from '../../src/services/cdn/scenario.js'
import { startAnvil } from './anvil.js'

const anvil = await startAnvil({ accounts: 2 })
after(() => anvil.stop())

test('anvil as a separate chain process: deploy, fund fresh keys from its dev account, run the CDN market, winners redeemed on it', { timeout: 180_000 }, async () => {
  const chain = await createChain({ kind: 'rpc', url: anvil.url, dev: true, devKeys: anvil.keys })
  try {
    assert.equal(chain.chainId, 31337)
    const deployment = await deploySouk(chain, anvil.keys[0])
    // Fresh keys that anvil knows nothing about, funded with ETH from its dev account.
    const keys: Hex[] = [anvil.keys[1], generatePrivateKey(), generatePrivateKey()]
    for (const k of keys.slice(1)) {
      const hash = await chain.wallet(anvil.keys[0]).sendTransaction({ to: privateKeyToAddress(k), value: parseEther('1') })
      await chain.public.waitForTransactionReceipt({ hash })
    }
    const net = createMemoryNetwork()
    const r = await runCdnScenario({
      chain, deployment, clock: systemClock(), rng: seededRng('anvil'), keys, caches: 2, clients: 2, contentBytes: 512 * 1024,
      newTransport: async (name) => net.createTransport({ peerId: name }),
    })
    for (const c of r.clients) assert.ok(c.ok, c.error)
    assert.equal(r.publisher.claimsPaid, 2 * 4)
    const settled = r.caches.reduce((n, c) => n + (c.settle?.settled ?? 0), 0)
    const winners = r.caches.reduce((n, c) => n + c.winningTickets, 0)
    assert.equal(settled + r.caches.reduce((n, c) => n + (c.settle?.claims ?? 0), 0), winners, 'every winner redeemed or queued as a claim')
  } finally {
    await chain.close()
  }
})

test('a chain process that dies: reads and writes fail with ChainUnreachableError naming the RPC, not a crash', async () => {
  const a2 = await startAnvil({ accounts: 1 })
  const chain = await createChain({ kind: 'rpc', url: a2.url, dev: true, devKeys: a2.keys, timeoutMs: 2_000 })
  const deployment = await deploySouk(chain, a2.keys[0])
  assert.ok((await chain.blockNumber()) >= 0n)
  await a2.stop()
  const unreachable = (e: unknown) => {
    assert.ok(e instanceof ChainUnreachableError, String(e))
    assert.equal(e.code, 'CHAIN_UNREACHABLE')
    assert.ok(e.message.startsWith(`The chain at ${a2.url}`) && e.message.includes('does not answer'), e.message)
    return true
  }
  await assert.rejects(chain.blockNumber(), unreachable)
  await assert.rejects(chain.public.readContract({ address: deployment.token, abi: abis.SoukTokenAbi, functionName: 'totalSupply' }).catch((e) => { throw (e as { walk?: (f: (x: unknown) => boolean) => unknown }).walk?.((x) => x instanceof ChainUnreachableError) ?? e }), unreachable)
  await assert.rejects(write(chain, chain.wallet(a2.keys[0]), { address: deployment.token, abi: abis.SoukTokenAbi, functionName: 'approve', args: [deployment.token, 1n] }), unreachable)
  await chain.close()
})

test('souk testnet --rpc <anvil> --key <its funded dev key>: peer keys derived and funded from it, the market runs as processes, every chunk paid, settlements equal the chain', { timeout: 240_000 }, async () => {
  const { runTestnet } = await import('../../src/node/testnet.js')
  const a3 = await startAnvil({ accounts: 1 })
  try {
    const events: { kind: string }[] = []
    const s = await runTestnet({ caches: 2, clients: 2, contentBytes: 1 << 20, rpcUrl: a3.url, key: a3.keys[0] }, { onEvent: (e) => events.push(e) })
    assert.deepEqual(s.crashed, [], JSON.stringify(s.crashed))
    assert.ok(s.contentOk, 'every client got the content byte-exact')
    for (const c of s.clients) assert.ok(c.ok, `${c.name}: ${c.error ?? ''}`)
    assert.equal(s.chunksPaid, 2 * 8)
    for (const c of s.caches) assert.equal(c.received, c.receivedOnChain, `${c.name}: settled amount equals the token transfers on anvil`)
    assert.ok(events.some((e) => e.kind === 'peers-funded'))
    assert.ok(s.ok)
  } finally {
    await a3.stop()
  }
})
