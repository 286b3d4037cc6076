/**
 * The compute market end to end in one process: the real roles wired by `computeMarket.wire` over the memory
 * transport, the embedded EVM with `WorkMarket` deployed, real transcoding with sharp, SQLite in memory. Blocks are
 * mined by the test and each role ticks after each, so every claim, challenge, fault and payout happens when the
 * test says. Every figure is checked against the chain's own events. Adversaries: a lazy worker, a black-frame
 * worker, a wrong-resolution worker, a worker with a colluding verifier (outvoted by honest ones, and not when it is
 * the only checker), a verifier accusing honest work, a client faulting with its own signature, and a stranger's
 * bad input on the wire.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import { WorkMarketAbi } from '../../../artifacts/contracts.js'
import { createChain, type Chain } from '../../chain/index.js'
import { readMessage, sendMessage } from '../../net/index.js'
import { deploySouk, type SoukDeployment } from '../../payments/deploy.js'
import { deployWorkMarketContract } from './chain.js'
import { computeWorld, type ComputeWorldOptions } from './fixtures.js'
import { COMPUTE_WORK, workCodec, workReplyCodec } from './protocol.js'

let chain: Chain
let dep: SoukDeployment
let market: Address
before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 60 })
  dep = await deploySouk(chain, chain.devKeys[0])
  market = await deployWorkMarketContract(chain, chain.devKeys[0], dep.token)
})
after(async () => { await chain.close() })

let keyBase = 1
const nextKey = () => chain.devKeys[keyBase++] as Hex
const world = (o: ComputeWorldOptions = {}) => computeWorld({ chain, deployment: dep, workMarket: market, nextKey, seed: `compute-${keyBase}` }, o)
const logsOf = async (eventName: string, jobId: Hex) =>
  (await chain.public.getContractEvents({ address: market, abi: WorkMarketAbi, eventName, args: { jobId }, fromBlock: 0n } as never)) as unknown as { args: Record<string, unknown> }[]

async function runToEnd(w: Awaited<ReturnType<typeof world>>) {
  const jobId = await w.client.client.worked
  await w.blocks(() => w.client.result().ended || w.client.result().error !== undefined, 120)
  return jobId
}

test('an honest worker transcodes every unit, claims each batch with one root, passes every spot check and is paid per batch', async () => {
  const w = await world()
  try {
    const jobId = await runToEnd(w)
    const r = w.client.result()
    assert.equal(r.error, undefined)
    assert.equal(r.ended, true)
    assert.equal(r.unitsReceived, 8)
    assert.equal(r.batchesClaimed, 2)
    assert.equal(r.rootMismatches, 0)
    assert.equal(r.checks, 4, 'two challenged units in each of two batches, one checker')
    assert.equal(r.faults, 0)
    assert.equal((await logsOf('WorkClaimed', jobId)).length, 2)
    const settled = await logsOf('BatchSettled', jobId)
    assert.equal(settled.length, 2, 'both batches paid')
    assert.equal(settled.reduce((s, e) => s + (e.args.paid as bigint), 0n), 8n * r.pricePerUnit!)
    assert.equal((await logsOf('BatchFaulted', jobId)).length, 0)
    assert.equal(w.verifiers[0].verifier.stats().ok, 4)
    assert.equal(w.worker.worker.stats().unitsFaked, 0)
  } finally { await w.close() }
})

async function caught(behaviour: 'lazy' | 'black' | 'wrong-resolution') {
  const w = await world({ worker: { behaviour } })
  try {
    const jobId = await runToEnd(w)
    const r = w.client.result()
    assert.equal(r.error, undefined)
    assert.equal(r.faults, 2, 'every batch faulted')
    assert.ok(r.slashedToUs > 0n)
    const faulted = await logsOf('BatchFaulted', jobId)
    assert.equal(faulted.length, 2)
    assert.equal((await logsOf('BatchSettled', jobId)).length, 0, 'no payment for faked work')
    const reason = Object.keys(w.verifiers[0].verifier.stats().reasons)[0]
    if (behaviour === 'wrong-resolution') assert.equal(reason, 'dimensions')
    if (behaviour === 'black') assert.equal(reason, 'perceptual')
    assert.ok(r.withdrawn > 0n, 'the client withdrew its escrow and the slash')
  } finally { await w.close() }
}
test('a lazy worker is caught by the spot check: its batches are faulted on chain, unpaid, and its stake goes to the client and finder', () => caught('lazy'))
test('a black worker is caught by the spot check: its batches are faulted on chain, unpaid, and its stake goes to the client and finder', () => caught('black'))
test('a wrong-resolution worker is caught by the spot check: its batches are faulted on chain, unpaid, and its stake goes to the client and finder', () => caught('wrong-resolution'))

test('a worker with a colluding verifier is still caught when two honest checkers outvote it (quorum 2 of 3)', async () => {
  const w = await world({ worker: { behaviour: 'colluding' }, verifiers: [{ behaviour: 'colluding' }, {}, {}] })
  try {
    const jobId = await runToEnd(w)
    assert.equal(w.client.result().faults, 2)
    assert.equal((await logsOf('BatchFaulted', jobId)).length, 2)
    assert.equal(w.verifiers[0].verifier.stats().bad, 0, 'the colluder approved everything')
  } finally { await w.close() }
})

test('accepted risk: a colluding verifier that is the only checker lets a lazy worker be paid (models/compute.yaml: verifier-collusion)', async () => {
  const w = await world({ worker: { behaviour: 'colluding' }, verifiers: [{ behaviour: 'colluding' }] })
  try {
    const jobId = await runToEnd(w)
    assert.equal(w.client.result().faults, 0)
    assert.equal((await logsOf('BatchSettled', jobId)).length, 2)
  } finally { await w.close() }
})

test('an accusing verifier cannot slash an honest worker alone (quorum 2 of 3): honest workers are never slashed', async () => {
  const w = await world({ verifiers: [{ behaviour: 'accuse' }, {}, {}] })
  try {
    const jobId = await runToEnd(w)
    assert.equal(w.client.result().faults, 0)
    assert.equal(w.client.result().badVerdicts, 0)
    assert.equal((await logsOf('BatchFaulted', jobId)).length, 0)
    assert.equal((await logsOf('BatchSettled', jobId)).length, 2)
    assert.ok(w.verifiers[0].verifier.stats().bad > 0, 'the accuser did sign bad verdicts')
  } finally { await w.close() }
})

test('a client faulting with its own signature is refused by the contract; the worker is paid', async () => {
  const w = await world({ client: { behaviour: 'false-accuse' } })
  try {
    const jobId = await runToEnd(w)
    const r = w.client.result()
    assert.equal(r.faults, 0)
    assert.equal(r.faultsRefused, 2)
    assert.equal((await logsOf('BatchFaulted', jobId)).length, 0)
    assert.equal((await logsOf('BatchSettled', jobId)).length, 2)
  } finally { await w.close() }
})

test('bad input on the work protocol: an unknown job, units out of order and a claim of undelivered units are refused by name', async () => {
  const w = await world()
  try {
    const jobId = await w.client.client.worked
    const t = w.net.createTransport({ peerId: 'stranger' })
    const ask = async (msgs: { header: Parameters<typeof workCodec.encode>[0]['header'] }[]) => {
      const s = await t.dial('worker', COMPUTE_WORK)
      let last
      try {
        for (const m of msgs) {
          await sendMessage(s, workCodec, { header: m.header, body: new Uint8Array(0) })
          last = await readMessage(s, workReplyCodec, { timeoutMs: 5_000 })
          if (last.header.type === 'refuse') break
        }
      } finally { await s.close().catch(() => {}) }
      return last!.header
    }
    const unknown = await ask([{ header: { type: 'open', jobId: `0x${'11'.repeat(32)}` } }])
    assert.equal(unknown.type, 'refuse')
    assert.match((unknown as { reason: string }).reason, /^unknown-job/)
    const order = await ask([{ header: { type: 'open', jobId } }, { header: { type: 'input', unit: 0, part: 0, parts: 1 } }])
    assert.equal(order.type, 'refuse')
    assert.match((order as { reason: string }).reason, /^out-of-order|^out-of-range/)
    const claim = await ask([{ header: { type: 'open', jobId } }, { header: { type: 'claim', first: 8, count: 4 } }])
    assert.equal(claim.type, 'refuse')
    assert.match((claim as { reason: string }).reason, /^bad-claim/)
    await t.stop()
    await w.blocks(() => w.client.result().ended, 120)
    assert.equal(w.client.result().faults, 0, 'the honest job went on')
  } finally { await w.close() }
})
