/**
 * The shared EIP-712 vectors (test/vectors/eip712.json): the generator still produces them, a hand-rolled
 * EIP-712 encoding agrees with viem, and the deployed contracts compute the same digests, accept the same
 * signatures and make the same lottery draws.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { concat, encodeAbiParameters, keccak256, toHex, type Address, type Hex } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { buildVectors, VECTORS_PATH, type Eip712Vectors } from '../vectors/generate-eip712.js'
import { read, setupSouk, type Ticket } from './helpers.js'

const file = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as Eip712Vectors

function toTicket(t: Eip712Vectors['tickets'][number]['ticket']): Ticket {
  return {
    recipient: t.recipient as Address, sender: t.sender as Address, faceValue: BigInt(t.faceValue), winProb: BigInt(t.winProb),
    senderNonce: BigInt(t.senderNonce), recipientRandHash: t.recipientRandHash as Hex, expirationBlock: BigInt(t.expirationBlock),
  }
}

/** EIP-712 by hand, independent of viem's typed-data encoder. */
function domainSeparator(name: string, chainId: number, contract: Address): Hex {
  const typeHash = keccak256(toHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'))
  return keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }], [typeHash, keccak256(toHex(name)), keccak256(toHex('1')), BigInt(chainId), contract]))
}
function manualTicketDigest(chainId: number, broker: Address, t: Ticket): Hex {
  const th = keccak256(toHex('Ticket(address recipient,address sender,uint256 faceValue,uint256 winProb,uint256 senderNonce,bytes32 recipientRandHash,uint256 expirationBlock)'))
  const sh = keccak256(encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'uint256' }],
    [th, t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash, t.expirationBlock],
  ))
  return keccak256(concat(['0x1901', domainSeparator('Souk TicketBroker', chainId, broker), sh]))
}
function manualVoucherDigest(chainId: number, channel: Address, id: Hex, amount: bigint): Hex {
  const th = keccak256(toHex('Voucher(bytes32 channelId,uint256 cumulativeAmount)'))
  const sh = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }], [th, id, amount]))
  return keccak256(concat(['0x1901', domainSeparator('Souk PaymentChannel', chainId, channel), sh]))
}

test('eip712.json is what the generator produces (TypeScript side)', async () => {
  assert.deepEqual(await buildVectors(), file)
  assert.ok(file.tickets.length >= 3 && file.vouchers.length >= 2)
  assert.ok(file.tickets.some((t) => t.wins) && file.tickets.some((t) => !t.wins), 'vectors cover a win and a loss')
  for (const v of file.tickets) assert.equal(manualTicketDigest(file.chainId, file.ticketBroker, toTicket(v.ticket)), v.digest)
  for (const v of file.vouchers) assert.equal(manualVoucherDigest(file.chainId, file.paymentChannel, v.channelId, BigInt(v.cumulativeAmount)), v.digest)
})

test('the contracts agree with eip712.json (Solidity side)', async () => {
  const env = await setupSouk()
  try {
    assert.equal(env.chain.chainId, file.chainId)
    assert.equal(env.d.ticketBroker, file.ticketBroker, 'deploySouk places the broker where the vectors expect')
    assert.equal(env.d.paymentChannel, file.paymentChannel)
    for (const v of file.tickets) {
      const t = toTicket(v.ticket)
      assert.equal(await read<Hex>(env, env.d.ticketBroker, C.TicketBrokerAbi, 'ticketDigest', [t]), v.digest)
      assert.equal(await read<boolean>(env, env.d.ticketBroker, C.TicketBrokerAbi, 'isWinning', [v.r, v.s, v.v, BigInt(v.recipientRand), t.winProb]), v.wins)
      // The draw itself: the ticket wins at winProb = draw + 1 and loses at draw.
      assert.equal(await read<boolean>(env, env.d.ticketBroker, C.TicketBrokerAbi, 'isWinning', [v.r, v.s, v.v, BigInt(v.recipientRand), BigInt(v.draw) + 1n]), true)
      assert.equal(await read<boolean>(env, env.d.ticketBroker, C.TicketBrokerAbi, 'isWinning', [v.r, v.s, v.v, BigInt(v.recipientRand), BigInt(v.draw)]), false)
    }
    for (const v of file.vouchers) {
      assert.equal(await read<Hex>(env, env.d.paymentChannel, C.PaymentChannelAbi, 'voucherDigest', [v.channelId, BigInt(v.cumulativeAmount)]), v.digest)
    }
  } finally {
    await env.chain.close()
  }
})
