/** The seeded PRNG lives in src/core/prng.ts (shared with the memory network); re-exported for the viability model. */
export * from '../core/prng.js'
