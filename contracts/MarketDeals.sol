// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title MarketDeals — on-chain verification of the market's EIP-712 deals (src/market/sign.ts).
/// @notice A deal is signed off chain by a server and a buyer over the EIP-712 domain
/// `{ name: "Souk Market", version: "1", chainId, verifyingContract: this }`. This contract recomputes the digest
/// from the deal's fields (nested structs and arrays per EIP-712), checks both signatures with OpenZeppelin's ECDSA
/// (canonical low-s only), and records each deal once. Service markets that settle deals on chain (storage,
/// compute) inherit it and build their escrow on `_verifyDeal`.
///
/// Invariants:
///  D1 a deal is recorded only with a valid signature of its server and of its buyer over exactly its fields
///  D2 a deal digest is recorded at most once (a replayed deal reverts MarketDealsAlreadyRecorded)
///  D3 a deal whose `endsAt` (unix ms) is not after the block's time is refused
contract MarketDeals is EIP712 {
    struct Rate {
        string usage;
        uint256 price;
        uint256 per;
    }

    struct PriceModel {
        string kind;
        uint256 base;
        Rate[] rates;
    }

    struct Usage {
        uint256 chunks;
        uint256 bytes_;
        uint256 byteSeconds;
        uint256 units;
        uint256 seconds_;
    }

    struct Deal {
        string service;
        bytes32 offer;
        bytes32 ask;
        address server;
        address buyer;
        PriceModel price;
        Usage usage;
        uint256 collateral;
        string scheme;
        uint64 startsAt;
        uint64 endsAt;
        uint256 nonce;
    }

    bytes32 public constant RATE_TYPEHASH = keccak256("Rate(string usage,uint256 price,uint256 per)");
    bytes32 public constant PRICE_MODEL_TYPEHASH =
        keccak256("PriceModel(string kind,uint256 base,Rate[] rates)Rate(string usage,uint256 price,uint256 per)");
    bytes32 public constant USAGE_TYPEHASH =
        keccak256("Usage(uint256 chunks,uint256 bytes,uint256 byteSeconds,uint256 units,uint256 seconds)");
    bytes32 public constant DEAL_TYPEHASH = keccak256(
        "Deal(string service,bytes32 offer,bytes32 ask,address server,address buyer,PriceModel price,Usage usage,uint256 collateral,string scheme,uint64 startsAt,uint64 endsAt,uint256 nonce)"
        "PriceModel(string kind,uint256 base,Rate[] rates)Rate(string usage,uint256 price,uint256 per)"
        "Usage(uint256 chunks,uint256 bytes,uint256 byteSeconds,uint256 units,uint256 seconds)"
    );

    mapping(bytes32 digest => bool) public recorded;

    error MarketDealsBadSignature(bytes32 digest, string side);
    error MarketDealsAlreadyRecorded(bytes32 digest);
    error MarketDealsEnded(bytes32 digest, uint64 endsAt, uint256 nowMs);

    event DealRecorded(bytes32 indexed digest, address indexed server, address indexed buyer, string service);

    constructor() EIP712("Souk Market", "1") {}

    function _hashPrice(PriceModel calldata p) private pure returns (bytes32) {
        bytes32[] memory rates = new bytes32[](p.rates.length);
        for (uint256 i = 0; i < p.rates.length; i++) {
            Rate calldata r = p.rates[i];
            rates[i] = keccak256(abi.encode(RATE_TYPEHASH, keccak256(bytes(r.usage)), r.price, r.per));
        }
        return keccak256(abi.encode(PRICE_MODEL_TYPEHASH, keccak256(bytes(p.kind)), p.base, keccak256(abi.encodePacked(rates))));
    }

    function _hashUsage(Usage calldata u) private pure returns (bytes32) {
        return keccak256(abi.encode(USAGE_TYPEHASH, u.chunks, u.bytes_, u.byteSeconds, u.units, u.seconds_));
    }

    /// @notice The EIP-712 digest both parties signed (what `marketHash(marketDomain(chainId, this), deal)` gives).
    function hashDeal(Deal calldata d) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(DEAL_TYPEHASH, keccak256(bytes(d.service)), d.offer, d.ask, d.server, d.buyer, _hashPrice(d.price), _hashUsage(d.usage)),
                abi.encode(d.collateral, keccak256(bytes(d.scheme)), d.startsAt, d.endsAt, d.nonce)
            )
        );
        return _hashTypedDataV4(structHash);
    }

    /// @dev Reverts unless both signatures are the deal's parties' and the deal has not ended; returns its digest.
    function _verifyDeal(Deal calldata d, bytes calldata serverSig, bytes calldata buyerSig) internal view returns (bytes32 digest) {
        digest = hashDeal(d);
        (address s, ECDSA.RecoverError es,) = ECDSA.tryRecover(digest, serverSig);
        if (es != ECDSA.RecoverError.NoError || s != d.server || s == address(0)) revert MarketDealsBadSignature(digest, "server");
        (address b, ECDSA.RecoverError eb,) = ECDSA.tryRecover(digest, buyerSig);
        if (eb != ECDSA.RecoverError.NoError || b != d.buyer || b == address(0)) revert MarketDealsBadSignature(digest, "buyer");
        if (uint256(d.endsAt) <= block.timestamp * 1000) revert MarketDealsEnded(digest, d.endsAt, block.timestamp * 1000);
    }

    /// @notice Records a deal both parties signed; anyone may send it (it only proves what they signed).
    function recordDeal(Deal calldata d, bytes calldata serverSig, bytes calldata buyerSig) external returns (bytes32 digest) {
        digest = _verifyDeal(d, serverSig, buyerSig);
        if (recorded[digest]) revert MarketDealsAlreadyRecorded(digest);
        recorded[digest] = true;
        emit DealRecorded(digest, d.server, d.buyer, d.service);
    }
}
