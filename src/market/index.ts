/**
 * Souk's market layer: server selection (hire a server when its capacity and collateral meet a policy, assign
 * servers by a draw). Matching, pricing and reputation grow here; the service–payment exchange is `src/exchange`.
 */
export * from './selection.js'
