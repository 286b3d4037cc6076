/** Hot-path cryptography: keccak256 and secp256k1 with native backends and tested noble fallbacks. */
export * from './keccak.js'
export * from './secp256k1.js'
export * from './bytes.js'
export * from './eip712.js'
