/**
 * Test and benchmark fixtures for the market module: deterministic keys, and signed offers and asks with sensible
 * defaults that a test overrides field by field. Not for production use (the keys come from a seeded rng).
 *
 * @example
 * ```ts
 * import { marketFixtures } from './fixtures.js'
 * const f = marketFixtures({ seed: 'my-test', now: 1_000 })
 * const s = f.party('server-1'), b = f.party('buyer-1')
 * const offer = f.offer(s, { collateral: 10n }), ask = f.ask(b, { servers: 2 })
 * ```
 */
import type { Address, Hex } from 'viem'
import { addressOf, bytesToHex, forkRng, seededRng, type Rng } from '../crypto/index.js'
import { perChunk, type Ask, type AskBody, type Offer, type OfferBody } from './schema.js'
import { marketDomain, signAsk, signOffer, type MarketDomain } from './sign.js'

export interface Party { name: string; key: Hex; address: Address; peer: string }

export function marketFixtures(o: { seed?: string; now?: number; chainId?: number } = {}) {
  const root: Rng = seededRng(o.seed ?? 'market-fixtures')
  const now = o.now ?? 1_000_000
  const domain: MarketDomain = marketDomain(o.chainId ?? 31337)
  const seqs = new Map<string, bigint>()
  const nextSeq = (k: string) => { const s = (seqs.get(k) ?? 0n) + 1n; seqs.set(k, s); return s }
  return {
    domain,
    now,
    party(name: string): Party {
      const key = bytesToHex(forkRng(root, `key:${name}`)(32)) as Hex
      return { name, key, address: addressOf(Uint8Array.from(Buffer.from(key.slice(2), 'hex'))).toLowerCase() as Address, peer: name }
    },
    offerBody(p: Party, over: Partial<OfferBody> = {}): OfferBody {
      return {
        type: 'offer', service: 'cdn', server: p.address, peer: p.peer,
        resources: { bytes: 1 << 30, bandwidthBps: 100_000_000, durationSec: 86_400, computeUnits: 0 },
        price: perChunk(100n), collateral: 0n, schemes: ['lottery'], region: 'eu-west', latencyMs: 20,
        addresses: [`/memory/${p.peer}`], capabilities: [], expiresAt: now + 3_600_000, seq: over.seq ?? nextSeq(`o:${p.address}`), ...over,
      }
    },
    offer(p: Party, over: Partial<OfferBody> = {}): Offer {
      return signOffer(this.offerBody(p, over), p.key, domain)
    },
    askBody(p: Party, over: Partial<AskBody> = {}): AskBody {
      return {
        type: 'ask', service: 'cdn', buyer: p.address, peer: p.peer,
        resources: { bytes: 1 << 20, bandwidthBps: 0, durationSec: 0, computeUnits: 0 },
        usage: { chunks: 100n }, maxPrice: 10_000n, minCollateral: 0n, schemes: ['lottery'], regions: [], maxLatencyMs: 0,
        capabilities: [], servers: 1, expiresAt: now + 600_000, seq: over.seq ?? nextSeq(`a:${p.address}`), ...over,
      }
    },
    ask(p: Party, over: Partial<AskBody> = {}): Ask {
      return signAsk(this.askBody(p, over), p.key, domain)
    },
  }
}
