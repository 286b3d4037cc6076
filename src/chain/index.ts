/** The chain layer: one `Chain` handle over the embedded EVM or any JSON-RPC chain. See docs/chain.md. */
export * from './types.js'
export * from './errors.js'
export { createChain, chainFromProvider, type ChainOptions } from './chain.js'
export { createEmbeddedProvider, devKeys, devAddresses, DEFAULT_CHAIN_ID, EVM_HARDFORK, type EmbeddedChainOptions } from './embedded.js'
export { serveJsonRpc, MAX_RPC_BODY_BYTES, type RpcServer } from './rpc-server.js'
export { deployContract, recordDeployment, loadDeployment, faucet, type Deployment } from './deploy.js'
/** @deprecated Transitional: import `deploySouk` and `SoukDeployment` from the payment layer (see deploy.ts). */
export { deploySouk, type SoukDeployment } from './deploy.js'
export { write, waitReceipt, encodeCall, serialSend, findRevertData, type WriteParams } from './tx.js'
export { encryptKeystore, decryptKeystore, loadSigningKey, KeystoreError, type KeystoreV3 } from './keystore.js'
export * as abis from '../../artifacts/contracts.js'
