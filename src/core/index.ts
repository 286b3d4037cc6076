/**
 * Souk's core: the one error base (`SoukError`, short message, hints, details, cause), the clock, the logger, the
 * seeded PRNG and the SQLite opener every layer shares.
 */
export * from './errors.js'
export * from './clock.js'
export * from './logger.js'
export * from './prng.js'
export * from './db.js'
