import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createChain, faucet, serveJsonRpc, write, ContractRevertError, encryptKeystore, decryptKeystore, loadSigningKey, KeystoreError, abis, ChainError } from './index.js'
import { privateKeyToAddress } from 'viem/accounts'
import { deploySouk } from '../payments/deploy.js'

test('embedded chain: deploy, faucet, dev controls, decoded custom errors', async () => {
  const chain = await createChain({ kind: 'embedded', accounts: 3 })
  assert.equal(chain.chainId, 31337)
  const d = await deploySouk(chain, chain.devKeys[0])
  const alice = privateKeyToAddress(chain.devKeys[1])
  await faucet(chain, chain.devKeys[1], d.token, alice, 1000n)
  const bal = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [alice] })
  assert.equal(bal, 1000n)
  const snap = await chain.dev!.snapshot()
  const b0 = await chain.blockNumber()
  await chain.dev!.mine(25)
  assert.equal(await chain.blockNumber(), b0 + 25n)
  await chain.dev!.revert(snap)
  assert.equal(await chain.blockNumber(), b0)
  // A call that must fail reverts with its named custom error.
  await assert.rejects(
    write(chain, chain.wallet(chain.devKeys[1]), { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'fundDeposit', args: [0n] }),
    (e: unknown) => e instanceof ContractRevertError && e.errorName === 'TicketBrokerZeroAmount',
  )
  await assert.rejects(
    write(chain, chain.wallet(chain.devKeys[1]), { address: d.token, abi: abis.SoukTokenAbi, functionName: 'faucet', args: [alice, 10n ** 31n] }),
    (e: unknown) => e instanceof ContractRevertError && e.errorName === 'SoukTokenFaucetCapExceeded' && e.args[0] === 10n ** 31n,
  )
  await chain.close()
})

test('JSON-RPC server shares one embedded chain with another process', async () => {
  const chain = await createChain({ kind: 'embedded', accounts: 2 })
  const server = await serveJsonRpc(chain.provider, { port: 0 })
  try {
    const remote = await createChain({ kind: 'rpc', url: server.url, dev: true })
    assert.equal(remote.chainId, chain.chainId)
    await remote.dev!.mine(7)
    assert.equal(await chain.blockNumber(), 7n)
    // A separate OS process talks to the same chain.
    const script = `const r = await fetch(${JSON.stringify(server.url)}, { method: 'POST', headers: {'content-type':'application/json'}, body: JSON.stringify([{jsonrpc:'2.0',id:1,method:'eth_blockNumber'},{jsonrpc:'2.0',id:2,method:'hardhat_mine',params:['0x3']}]) }); console.log(JSON.stringify(await r.json()))`
    // (async: the server lives in this process's event loop)
    const out = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
    const res = JSON.parse(out.stdout) as { id: number; result: string }[]
    assert.equal(res[0].result, '0x7')
    assert.equal(await chain.blockNumber(), 10n)
    // Malformed bodies get JSON-RPC errors, not a crash.
    const bad = await fetch(server.url, { method: 'POST', body: '{not json' })
    assert.equal(((await bad.json()) as { error: { code: number } }).error.code, -32700)
    const noMethod = await fetch(server.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1 }) })
    assert.equal(((await noMethod.json()) as { error: { code: number } }).error.code, -32600)
  } finally {
    await server.close()
  }
})

test('remote mode: a bad URL or a dead node gives a ChainError with a hint and no credentials', async () => {
  await assert.rejects(createChain({ kind: 'rpc', url: 'not a url' }), ChainError)
  await assert.rejects(createChain({ kind: 'rpc', url: 'http://user:secret@127.0.0.1:1', timeoutMs: 2000 }), (e: unknown) => {
    assert.ok(e instanceof ChainError)
    assert.ok(!e.message.includes('secret'), e.message)
    return true
  })
})

test('keystore round trip, wrong password, key from environment', () => {
  const key = `0x${'ab'.repeat(32)}` as const
  const ks = encryptKeystore(key, 'correct horse', { n: 1024 })
  assert.equal(decryptKeystore(ks, 'correct horse'), key)
  assert.throws(() => decryptKeystore(ks, 'wrong'), (e: unknown) => e instanceof KeystoreError && e.code === 'KEYSTORE_PASSWORD')
  assert.equal(loadSigningKey({ env: { SOUK_PRIVATE_KEY: key } }), key)
  assert.throws(() => loadSigningKey({ env: {} }), KeystoreError)
  assert.throws(() => loadSigningKey({ env: { SOUK_PRIVATE_KEY: '0x1234' } }), KeystoreError)
})

test('two embedded chains in one process and a revert keep nonces right', async () => {
  const a = await createChain({ kind: 'embedded', accounts: 2 })
  const b = await createChain({ kind: 'embedded', accounts: 2 })
  await deploySouk(a, a.devKeys[0])
  const snap = await b.dev!.snapshot()
  await deploySouk(b, b.devKeys[0]) // same key, same chain id, other chain: must start at nonce 0
  await b.dev!.revert(snap)
  await deploySouk(b, b.devKeys[0]) // after revert: nonce 0 again
  await a.close(); await b.close()
})
