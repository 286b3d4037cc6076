/**
 * Souk's one home for byte helpers and hot-path cryptography: hex/words (one `hexToBytes`, which throws on bad
 * input), keccak256 and secp256k1 with native backends and tested noble fallbacks, EIP-712 digests, the byte
 * `Rng`s (system, seeded, forked streams).
 */
export * from './keccak.js'
export * from './secp256k1.js'
export * from './bytes.js'
export * from './eip712.js'
export * from './backend.js'
export * from './sha256.js'
export * from './merkle.js'
export * from './rng.js'
