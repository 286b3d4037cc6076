// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MarketDeals} from "./MarketDeals.sol";

/// @title StorageMarket — file-storage deals: escrow per period, provider collateral, proofs of storage on chain.
/// @notice A storage deal is a market Deal (MarketDeals, EIP-712 domain "Souk Market") with `service == "storage"`,
/// `nonce == uint256(termsHash(terms))` (so both signatures cover the storage terms below) and
/// `collateral == terms.collateral`; its id is the Deal's EIP-712 digest. The client (`buyer`) opens it and escrows
/// `pricePerPeriod × periods`; the provider (`server`) activates it within `activateWithinBlocks` by posting its
/// collateral. From the activation block `start`, period t (0-based) spans blocks (start + tP, start + (t+1)P]; its
/// seed block is `start + (t+1)P - windowBlocks` and its proof is accepted in the window (seedBlock, start + (t+1)P].
///
/// Proofs (souk.storage v1, src/proofs/storage/tree.ts and challenge.ts): the tree over
/// `replicas × leavesPerReplica` 32-byte leaves has 20-byte nodes, leaf = keccak256(0x00 ‖ leaf)[0:20],
/// node = keccak256(0x01 ‖ l ‖ r)[0:20], depth ceil(log2 n); challenge c of period t is
/// keccak256(abi.encode(seed, dealId, t, c)) mod n, seed = blockhash(seedBlock). A proof carries the challenged
/// leaves (sorted, deduplicated, 32 bytes each) and the multi-proof's siblings (20 bytes each, level by level, left
/// to right, each used exactly once), both packed in `bytes`.
///
/// Settling: a valid proof in its window pays that period's price to the provider's withdrawable balance. A period
/// whose window closed without a proof, or whose proof failed, is faulted: its collateral share (collateral / periods,
/// the last period also takes the remainder) and its price go to the client's withdrawable balance. Periods are
/// resolved in order (a cursor `next`): a proof or a fault for period t first faults the unresolved periods before
/// it, whose windows are necessarily over without a proof. Either party may terminate early: the periods after the
/// current one are cancelled and their escrow refunded to the client; a provider who terminates also forfeits those
/// periods' collateral shares to the client. `finalize` after the last window faults what is left unresolved and
/// returns the remaining collateral to the provider.
///
/// Decisions:
///  - `pricePerPeriod == 0` is allowed (a deal paid off chain, e.g. by the market's lottery tickets, still backed by
///    collateral and proofs); collateral 0 is refused (nothing would deter dropping the data).
///  - `prove` never reverts for one bad entry: an entry that is not the caller's deal, for a deal not active, for a
///    cancelled period or one outside its window, or a replay of a resolved period is skipped with `ProofSkipped`
///    naming why; a proof that fails verification faults its period. Only a batch where every entry was skipped
///    reverts (`StorageMarketNothingProven`, naming the first), so a stranger's or a replayer's transaction moves
///    nothing and says why.
///  - `prove` reads the seed with BLOCKHASH (a window is at most 256 blocks, so it is always in reach) and does not
///    record it: once its period is resolved nobody needs it, and the hot path keeps one SSTORE per proof (the deal's
///    progress word) plus one per batch (the provider's balance). `recordSeed` keeps any period's seed for later
///    audits; an unrecorded seed older than 256 blocks is read from the EIP-2935 history contract (8191 blocks).
///  - Self-dealing (client == provider) is allowed: it can only move its own money.
///  - `prove` makes no external call that can re-enter (only a STATICCALL to the history contract), so it carries
///    no reentrancy guard; every function that moves tokens does.
///
/// Invariants (fuzzed against the TypeScript model in test/contracts/storage-model.ts):
///  S1 money is conserved: token.balanceOf(this) == Σ escrowLeft + Σ collateralLeft + Σ withdrawable balances
///  S2 a provider is paid from escrow only for proven periods: its credits from a deal == pricePerPeriod × proven
///     (plus, at finalize, its own collateral not slashed or forfeited)
///  S3 slashed and forfeited collateral goes only to the deal's client
///  S4 a period is paid, slashed, or cancelled at most once (proven + faulted + cancelled <= periods, each once)
///  S5 only the deal's provider can have a proof of it counted; only the client can open or cancel it, only the
///     provider activate it
contract StorageMarket is MarketDeals, ReentrancyGuard {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types
    /// @notice The storage terms both parties sign (through the Deal's nonce).
    struct StorageTerms {
        bytes20 root;
        bytes20 dataRoot;
        bytes32 salt;
        uint64 leavesPerReplica;
        uint16 replicas;
        uint16 challenges;
        uint32 periodBlocks;
        uint32 windowBlocks;
        uint32 periods;
        uint32 activateWithinBlocks;
        uint256 pricePerPeriod;
        uint256 collateral;
    }

    /// @notice One deal's proof of one period.
    struct Proof {
        bytes32 dealId;
        uint32 period;
        bytes leaves; // 32 bytes per challenged leaf, sorted-deduplicated position order
        bytes siblings; // 20 bytes per sibling node
    }

    enum DealState {
        None,
        Opened,
        Active,
        Cancelled,
        Finalized
    }

    enum PeriodState {
        None, // unknown deal, not activated, or past the deal's periods
        Pending, // its window has not opened
        Open, // its window is open, no proof yet
        Due, // its window closed without a proof: anyone may fault it
        Proven,
        Faulted,
        Cancelled
    }

    enum SkipReason {
        UnknownDeal,
        NotProvider,
        NotActive,
        NotInWindow,
        AlreadyResolved,
        Cancelled
    }

    enum FaultReason {
        Missed,
        BadProof
    }

    /// @dev A deal as stored. `progress` is the one word a proof rewrites (one SSTORE), packed by hand:
    /// bits [0,32) next (periods below it are resolved: proven or faulted), [32,64) faulted, [64,96) endPeriod (periods
    /// from it on are cancelled; == periods unless terminated), [96,128) start (the activation block), [128,256)
    /// pricePerPeriod. Escrow is not stored: an opened deal holds pricePerPeriod × periods, an active one
    /// pricePerPeriod × (endPeriod - next) (every resolved period took its price out: paid or refunded; every
    /// cancelled one was refunded), any other none. Proven periods are next - faulted.
    struct DealRecord {
        // slot 0: what a proof reads
        address provider;
        DealState state;
        uint8 depth;
        uint16 challenges;
        uint32 periodBlocks;
        uint32 windowBlocks;
        // slot 1
        bytes20 root;
        uint64 totalLeaves;
        uint32 periods;
        // slot 2
        uint256 progress;
        // slot 3
        address client;
        uint32 openBlock;
        uint32 activateWithinBlocks;
        // slot 4
        uint128 collateralLeft;
        uint128 collateral;
    }

    /// @notice What `deals(dealId)` returns.
    struct DealView {
        DealState state;
        address client;
        address provider;
        uint256 openBlock;
        uint256 start;
        uint256 periods;
        uint256 endPeriod;
        uint256 next;
        uint256 proven;
        uint256 faulted;
        uint256 escrowLeft;
        uint256 collateralLeft;
    }

    /// @notice What `termsOf(dealId)` returns (the terms as stored).
    struct TermsView {
        bytes20 root;
        uint256 totalLeaves;
        uint256 depth;
        uint256 challenges;
        uint256 periodBlocks;
        uint256 windowBlocks;
        uint256 activateWithinBlocks;
        uint256 pricePerPeriod;
        uint256 collateral;
    }

    /// @notice The EIP-2935 block-hash history contract (8191 blocks back, from Prague on).
    address public constant HISTORY = 0x0000F90827F1C53a10cb7A02335B175320002935;
    uint256 public constant MAX_CHALLENGES = 64;
    uint256 public constant MAX_WINDOW = 256;
    uint256 public constant MAX_DEPTH = 40;
    bytes32 private constant STORAGE_SERVICE = keccak256("storage");
    uint256 private constant NODE_MASK = 0xffffffffffffffffffffffffffffffffffffffff000000000000000000000000;

    // ---------------------------------------------------------------- state
    IERC20 public immutable token;
    mapping(bytes32 dealId => DealRecord) private _deals;
    /// @dev Withdrawable balance + 1 once an address was ever credited (a slot that never returns to zero keeps
    /// later credits at the cheap nonzero-to-nonzero price).
    mapping(address who => uint256) private _balances;
    mapping(bytes32 dealId => mapping(uint256 word => uint256)) private _faultBits;
    mapping(bytes32 dealId => mapping(uint256 period => bytes32)) private _seeds;

    // ---------------------------------------------------------------- errors
    error StorageMarketZeroAddress();
    error StorageMarketNotClient(address client, address caller);
    error StorageMarketNotProvider(address provider, address caller);
    error StorageMarketNotParty(address caller);
    error StorageMarketNotStorageDeal(string service);
    error StorageMarketTermsMismatch(string field);
    error StorageMarketBadTerms(string field);
    error StorageMarketDealExists(bytes32 dealId);
    error StorageMarketUnknownDeal(bytes32 dealId);
    error StorageMarketNotOpened(bytes32 dealId, DealState state);
    error StorageMarketNotActive(bytes32 dealId, DealState state);
    error StorageMarketActivationExpired(bytes32 dealId, uint256 deadline);
    error StorageMarketActivationPending(bytes32 dealId, uint256 deadline);
    error StorageMarketPeriodOutOfRange(bytes32 dealId, uint256 period);
    error StorageMarketPeriodCancelled(bytes32 dealId, uint256 period);
    error StorageMarketPeriodResolved(bytes32 dealId, uint256 period);
    error StorageMarketWindowOpen(bytes32 dealId, uint256 period, uint256 closesAt);
    error StorageMarketNothingToCancel(bytes32 dealId);
    error StorageMarketNotEnded(bytes32 dealId, uint256 endBlock);
    error StorageMarketSeedNotYet(bytes32 dealId, uint256 period, uint256 seedBlock);
    error StorageMarketSeedUnavailable(bytes32 dealId, uint256 period, uint256 seedBlock);
    error StorageMarketEmptyBatch();
    error StorageMarketNothingProven(bytes32 dealId, uint256 period, SkipReason reason);
    error StorageMarketNothingToWithdraw(address who);

    // ---------------------------------------------------------------- events
    event DealOpened(
        bytes32 indexed dealId, address indexed client, address indexed provider, bytes20 root, uint256 escrow, uint256 collateral, uint256 periods
    );
    event DealActivated(bytes32 indexed dealId, uint256 start, uint256 collateral);
    event DealCancelled(bytes32 indexed dealId, uint256 refunded);
    event PeriodProven(bytes32 indexed dealId, uint256 period, uint256 paid);
    event PeriodFaulted(bytes32 indexed dealId, uint256 period, uint256 slashed, FaultReason reason);
    event ProofSkipped(bytes32 indexed dealId, uint256 period, SkipReason reason);
    event SeedRecorded(bytes32 indexed dealId, uint256 period, bytes32 seed);
    event DealTerminated(bytes32 indexed dealId, address indexed by, uint256 cancelledFrom, uint256 refunded, uint256 forfeited);
    event DealFinalized(bytes32 indexed dealId, uint256 collateralReturned);
    event Withdrawn(address indexed who, uint256 amount);

    constructor(IERC20 token_) {
        if (address(token_) == address(0)) revert StorageMarketZeroAddress();
        token = token_;
    }

    // ---------------------------------------------------------------- views
    /// @notice keccak256(abi.encode(t)): the value a storage Deal's `nonce` must carry.
    function termsHash(StorageTerms calldata t) public pure returns (bytes32) {
        return keccak256(abi.encode(t));
    }

    function deals(bytes32 dealId) external view returns (DealView memory v) {
        DealRecord storage r = _deals[dealId];
        uint256 w = r.progress;
        v = DealView({
            state: r.state,
            client: r.client,
            provider: r.provider,
            openBlock: r.openBlock,
            start: _start(w),
            periods: r.periods,
            endPeriod: _end(w),
            next: _next(w),
            proven: _next(w) - _faulted(w),
            faulted: _faulted(w),
            escrowLeft: _escrowLeft(r.state, w, r.periods),
            collateralLeft: r.collateralLeft
        });
    }

    function termsOf(bytes32 dealId) external view returns (TermsView memory v) {
        DealRecord storage r = _deals[dealId];
        v = TermsView({
            root: r.root,
            totalLeaves: r.totalLeaves,
            depth: r.depth,
            challenges: r.challenges,
            periodBlocks: r.periodBlocks,
            windowBlocks: r.windowBlocks,
            activateWithinBlocks: r.activateWithinBlocks,
            pricePerPeriod: _price(r.progress),
            collateral: r.collateral
        });
    }

    /// @notice What `who` can withdraw.
    function balanceOf(address who) public view returns (uint256) {
        uint256 b = _balances[who];
        return b == 0 ? 0 : b - 1;
    }

    /// @notice The period the chain is in for an activated deal (0 at the activation block; may be >= periods).
    function currentPeriod(bytes32 dealId) public view returns (uint256) {
        DealRecord storage r = _deals[dealId];
        uint256 start = _start(r.progress);
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        if (start == 0) revert StorageMarketNotActive(dealId, r.state);
        return block.number <= start ? 0 : (block.number - start - 1) / r.periodBlocks;
    }

    function periodState(bytes32 dealId, uint256 t) external view returns (PeriodState) {
        DealRecord storage r = _deals[dealId];
        uint256 w = r.progress;
        if (_start(w) == 0 || t >= r.periods) return PeriodState.None;
        if (t >= _end(w)) return PeriodState.Cancelled;
        if (t < _next(w)) return (_faultBits[dealId][t >> 8] >> (t & 255)) & 1 == 1 ? PeriodState.Faulted : PeriodState.Proven;
        uint256 end = _start(w) + (t + 1) * r.periodBlocks;
        if (block.number > end) return PeriodState.Due;
        if (block.number > end - r.windowBlocks) return PeriodState.Open;
        return PeriodState.Pending;
    }

    /// @notice The seed of period t: recorded, else blockhash (256 blocks), else EIP-2935 history; reverts if none.
    function seedOf(bytes32 dealId, uint256 t) public view returns (bytes32) {
        DealRecord storage r = _deals[dealId];
        uint256 start = _start(r.progress);
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        if (start == 0) revert StorageMarketNotActive(dealId, r.state);
        if (t >= r.periods) revert StorageMarketPeriodOutOfRange(dealId, t);
        return _seed(dealId, t, start + (t + 1) * r.periodBlocks - r.windowBlocks);
    }

    /// @notice The leaf positions challenged in period t, sorted and deduplicated (the order the proof gives them).
    function challengedLeaves(bytes32 dealId, uint256 t) external view returns (uint256[] memory) {
        DealRecord storage r = _deals[dealId];
        return _positions(seedOf(dealId, t), dealId, t, r.challenges, r.totalLeaves);
    }

    // ---------------------------------------------------------------- deal life
    /// @notice The client opens a deal both parties signed and escrows `pricePerPeriod × periods`.
    function openDeal(Deal calldata d, bytes calldata serverSig, bytes calldata buyerSig, StorageTerms calldata t)
        external
        nonReentrant
        returns (bytes32 dealId)
    {
        if (msg.sender != d.buyer) revert StorageMarketNotClient(d.buyer, msg.sender);
        if (keccak256(bytes(d.service)) != STORAGE_SERVICE) revert StorageMarketNotStorageDeal(d.service);
        if (d.nonce != uint256(termsHash(t))) revert StorageMarketTermsMismatch("nonce");
        if (d.collateral != t.collateral) revert StorageMarketTermsMismatch("collateral");
        (uint256 total, uint256 depth, uint256 escrow) = _checkTerms(t);
        dealId = _verifyDeal(d, serverSig, buyerSig);
        DealRecord storage r = _deals[dealId];
        if (r.state != DealState.None) revert StorageMarketDealExists(dealId);
        r.provider = d.server;
        r.state = DealState.Opened;
        r.depth = uint8(depth);
        r.challenges = t.challenges;
        r.periodBlocks = t.periodBlocks;
        r.windowBlocks = t.windowBlocks;
        r.root = t.root;
        r.totalLeaves = uint64(total);
        r.periods = t.periods;
        r.progress = _pack(0, 0, t.periods, 0, t.pricePerPeriod);
        r.client = msg.sender;
        r.openBlock = uint32(block.number);
        r.activateWithinBlocks = t.activateWithinBlocks;
        r.collateral = uint128(t.collateral);
        emit DealOpened(dealId, msg.sender, d.server, t.root, escrow, t.collateral, t.periods);
        if (escrow != 0) token.safeTransferFrom(msg.sender, address(this), escrow);
    }

    function _checkTerms(StorageTerms calldata t) private view returns (uint256 total, uint256 depth, uint256 escrow) {
        if (t.collateral == 0) revert StorageMarketBadTerms("collateral");
        if (t.periods == 0) revert StorageMarketBadTerms("periods");
        if (t.replicas == 0) revert StorageMarketBadTerms("replicas");
        if (t.leavesPerReplica == 0) revert StorageMarketBadTerms("leavesPerReplica");
        if (t.challenges == 0 || t.challenges > MAX_CHALLENGES) revert StorageMarketBadTerms("challenges");
        if (t.windowBlocks == 0 || t.windowBlocks > t.periodBlocks || t.windowBlocks > MAX_WINDOW) revert StorageMarketBadTerms("windowBlocks");
        if (t.activateWithinBlocks == 0) revert StorageMarketBadTerms("activateWithinBlocks");
        total = uint256(t.replicas) * t.leavesPerReplica;
        if (total > 1 << MAX_DEPTH) revert StorageMarketBadTerms("depth");
        while ((1 << depth) < total) depth++;
        if (t.collateral > type(uint128).max || t.pricePerPeriod > type(uint128).max) revert StorageMarketBadTerms("amount");
        escrow = t.pricePerPeriod * t.periods;
        if (escrow > type(uint128).max) revert StorageMarketBadTerms("amount");
        if (block.number + t.activateWithinBlocks + uint256(t.periods) * t.periodBlocks > type(uint32).max) revert StorageMarketBadTerms("duration");
    }

    /// @notice The provider accepts the opened deal and posts its collateral; the periods start now.
    function activate(bytes32 dealId) external nonReentrant {
        DealRecord storage r = _deals[dealId];
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        if (msg.sender != r.provider) revert StorageMarketNotProvider(r.provider, msg.sender);
        if (r.state != DealState.Opened) revert StorageMarketNotOpened(dealId, r.state);
        uint256 deadline = uint256(r.openBlock) + r.activateWithinBlocks;
        if (block.number > deadline) revert StorageMarketActivationExpired(dealId, deadline);
        uint256 c = r.collateral;
        uint256 w = r.progress;
        r.state = DealState.Active;
        r.progress = _pack(0, 0, _end(w), block.number, _price(w));
        r.collateralLeft = uint128(c);
        emit DealActivated(dealId, block.number, c);
        token.safeTransferFrom(msg.sender, address(this), c);
    }

    /// @notice The client takes its escrow back from a deal the provider did not activate in time.
    function cancel(bytes32 dealId) external nonReentrant {
        DealRecord storage r = _deals[dealId];
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        if (msg.sender != r.client) revert StorageMarketNotClient(r.client, msg.sender);
        if (r.state != DealState.Opened) revert StorageMarketNotOpened(dealId, r.state);
        uint256 deadline = uint256(r.openBlock) + r.activateWithinBlocks;
        if (block.number <= deadline) revert StorageMarketActivationPending(dealId, deadline);
        uint256 refund = _escrowLeft(DealState.Opened, r.progress, r.periods);
        r.state = DealState.Cancelled;
        _credit(msg.sender, refund);
        emit DealCancelled(dealId, refund);
    }

    /// @notice Either party ends the deal after the current period: the later periods are cancelled and their escrow
    /// refunded to the client; a provider who terminates forfeits their collateral shares to the client too.
    function terminate(bytes32 dealId) external nonReentrant {
        DealRecord storage r = _deals[dealId];
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        bool byProvider = msg.sender == r.provider;
        if (!byProvider && msg.sender != r.client) revert StorageMarketNotParty(msg.sender);
        if (r.state != DealState.Active) revert StorageMarketNotActive(dealId, r.state);
        uint256 w = r.progress;
        uint256 endPeriod = _end(w);
        uint256 from = currentPeriod(dealId) + 1;
        if (from >= endPeriod) revert StorageMarketNothingToCancel(dealId);
        uint256 refunded = (endPeriod - from) * _price(w);
        uint256 forfeited;
        if (byProvider) {
            for (uint256 j = from; j < endPeriod; j++) forfeited += _share(r, j);
            r.collateralLeft -= uint128(forfeited);
        }
        r.progress = _pack(_next(w), _faulted(w), from, _start(w), _price(w));
        _credit(r.client, refunded + forfeited);
        emit DealTerminated(dealId, msg.sender, from, refunded, forfeited);
    }

    /// @notice Anyone, after period t's window closed without a proof: faults it (and any unresolved period before it,
    /// all missed): its collateral share and its price go to the client.
    function fault(bytes32 dealId, uint256 t) external {
        DealRecord storage r = _deals[dealId];
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        if (r.state != DealState.Active) revert StorageMarketNotActive(dealId, r.state);
        if (t >= r.periods) revert StorageMarketPeriodOutOfRange(dealId, t);
        uint256 w = r.progress;
        if (t >= _end(w)) revert StorageMarketPeriodCancelled(dealId, t);
        if (t < _next(w)) revert StorageMarketPeriodResolved(dealId, t);
        uint256 end = _start(w) + (t + 1) * r.periodBlocks;
        if (block.number <= end) revert StorageMarketWindowOpen(dealId, t, end);
        r.progress = _faultThrough(dealId, r, w, t + 1, FaultReason.Missed);
    }

    /// @notice Anyone, after the last (non-cancelled) period's window: faults what is unresolved and returns the
    /// remaining collateral to the provider (no escrow is left by then: every period was paid, refunded or cancelled).
    function finalize(bytes32 dealId) external {
        DealRecord storage r = _deals[dealId];
        if (r.state == DealState.None) revert StorageMarketUnknownDeal(dealId);
        if (r.state != DealState.Active) revert StorageMarketNotActive(dealId, r.state);
        uint256 w = r.progress;
        uint256 endBlock = _start(w) + _end(w) * r.periodBlocks;
        if (block.number <= endBlock) revert StorageMarketNotEnded(dealId, endBlock);
        if (_next(w) < _end(w)) r.progress = _faultThrough(dealId, r, w, _end(w), FaultReason.Missed);
        uint256 collateral = r.collateralLeft;
        r.collateralLeft = 0;
        r.state = DealState.Finalized;
        _credit(r.provider, collateral);
        emit DealFinalized(dealId, collateral);
    }

    /// @notice Keeps period t's seed in storage (anyone; idempotent) so it outlives BLOCKHASH's 256 blocks.
    function recordSeed(bytes32 dealId, uint256 t) external returns (bytes32 seed) {
        seed = seedOf(dealId, t);
        if (_seeds[dealId][t] == 0) {
            _seeds[dealId][t] = seed;
            emit SeedRecorded(dealId, t, seed);
        }
    }

    /// @notice Pays out the caller's whole withdrawable balance.
    function withdraw() external nonReentrant {
        uint256 amount = balanceOf(msg.sender);
        if (amount == 0) revert StorageMarketNothingToWithdraw(msg.sender);
        _balances[msg.sender] = 1;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- proofs
    /// @notice Proofs of several deals and periods; every entry must be one of the caller's deals. Returns how many
    /// entries were settled (proven or faulted); reverts only when none was.
    function prove(Proof[] calldata proofs) external returns (uint256 settled) {
        if (proofs.length == 0) revert StorageMarketEmptyBatch();
        uint256 pay;
        bytes32 firstId;
        uint256 firstPeriod;
        SkipReason firstWhy;
        bool skipped;
        for (uint256 i = 0; i < proofs.length; i++) {
            Proof calldata pr = proofs[i];
            (bool done, SkipReason why, uint256 paid) = _proveOne(pr);
            if (!done) {
                emit ProofSkipped(pr.dealId, pr.period, why);
                if (!skipped) (skipped, firstId, firstPeriod, firstWhy) = (true, pr.dealId, pr.period, why);
                continue;
            }
            unchecked {
                settled++;
                pay += paid;
            }
        }
        if (settled == 0) revert StorageMarketNothingProven(firstId, firstPeriod, firstWhy);
        _credit(msg.sender, pay);
    }

    function _proveOne(Proof calldata pr) private returns (bool done, SkipReason why, uint256 paid) {
        bytes32 id = pr.dealId;
        DealRecord storage r = _deals[id];
        DealState st = r.state;
        if (st == DealState.None) return (false, SkipReason.UnknownDeal, 0);
        if (msg.sender != r.provider) return (false, SkipReason.NotProvider, 0);
        if (st != DealState.Active) return (false, SkipReason.NotActive, 0);
        uint256 t = pr.period;
        if (t >= r.periods) return (false, SkipReason.NotInWindow, 0);
        uint256 w = r.progress;
        if (t >= _end(w)) return (false, SkipReason.Cancelled, 0);
        if (t < _next(w)) return (false, SkipReason.AlreadyResolved, 0);
        uint256 end = _start(w) + (t + 1) * r.periodBlocks;
        uint256 seedBlock = end - r.windowBlocks;
        if (block.number <= seedBlock || block.number > end) return (false, SkipReason.NotInWindow, 0);
        if (t > _next(w)) w = _faultThrough(id, r, w, t, FaultReason.Missed);
        bytes32 seed = blockhash(seedBlock);
        if (seed == 0) seed = _seed(id, t, seedBlock);
        uint256[] memory pos = _positions(seed, id, t, r.challenges, r.totalLeaves);
        done = true;
        if (_verify(pos, r.depth, bytes32(r.root), pr.leaves, pr.siblings)) {
            paid = _price(w);
            r.progress = (w & ~uint256(0xffffffff)) | (t + 1);
            emit PeriodProven(id, t, paid);
        } else {
            r.progress = _faultThrough(id, r, w, t + 1, FaultReason.BadProof);
        }
    }

    // ---------------------------------------------------------------- internals
    function _pack(uint256 next, uint256 faulted, uint256 endPeriod, uint256 start, uint256 price) private pure returns (uint256) {
        return next | (faulted << 32) | (endPeriod << 64) | (start << 96) | (price << 128);
    }

    function _next(uint256 w) private pure returns (uint256) {
        return uint32(w);
    }

    function _faulted(uint256 w) private pure returns (uint256) {
        return uint32(w >> 32);
    }

    function _end(uint256 w) private pure returns (uint256) {
        return uint32(w >> 64);
    }

    function _start(uint256 w) private pure returns (uint256) {
        return uint32(w >> 96);
    }

    function _price(uint256 w) private pure returns (uint256) {
        return w >> 128;
    }

    function _escrowLeft(DealState st, uint256 w, uint256 periods) private pure returns (uint256) {
        if (st == DealState.Opened) return _price(w) * periods;
        if (st == DealState.Active) return _price(w) * (_end(w) - _next(w));
        return 0;
    }

    /// @dev Faults the periods [next, to), `why` for the last one and Missed before it: each one's collateral share
    /// and price go to the client. Returns the progress word to store.
    function _faultThrough(bytes32 id, DealRecord storage r, uint256 w, uint256 to, FaultReason why) private returns (uint256) {
        uint256 next = _next(w);
        uint256 slashed;
        for (uint256 j = next; j < to; j++) {
            uint256 s = _share(r, j);
            slashed += s;
            _faultBits[id][j >> 8] |= 1 << (j & 255);
            emit PeriodFaulted(id, j, s, j + 1 == to ? why : FaultReason.Missed);
        }
        r.collateralLeft -= uint128(slashed);
        _credit(r.client, slashed + (to - next) * _price(w));
        return _pack(to, _faulted(w) + (to - next), _end(w), _start(w), _price(w));
    }

    /// @dev Period j's collateral share: collateral / periods, the last period also the remainder.
    function _share(DealRecord storage r, uint256 j) private view returns (uint256) {
        uint256 c = r.collateral;
        uint256 n = r.periods;
        return j + 1 == n ? c / n + c % n : c / n;
    }

    function _credit(address who, uint256 amount) private {
        if (amount == 0) return;
        uint256 b = _balances[who];
        _balances[who] = (b == 0 ? 1 : b) + amount;
    }

    function _seed(bytes32 id, uint256 t, uint256 seedBlock) private view returns (bytes32 s) {
        s = _seeds[id][t];
        if (s != 0) return s;
        if (seedBlock >= block.number) revert StorageMarketSeedNotYet(id, t, seedBlock);
        if (block.number - seedBlock <= 256) return blockhash(seedBlock);
        if (HISTORY.code.length != 0) {
            (bool ok, bytes memory ret) = HISTORY.staticcall(abi.encode(seedBlock));
            if (ok && ret.length == 32) {
                s = abi.decode(ret, (bytes32));
                if (s != 0) return s;
            }
        }
        revert StorageMarketSeedUnavailable(id, t, seedBlock);
    }

    /// @dev The k challenged positions, sorted and deduplicated (insertion sort; k <= 64).
    function _positions(bytes32 seed, bytes32 id, uint256 t, uint256 k, uint256 total) private pure returns (uint256[] memory pos) {
        pos = new uint256[](k);
        assembly ("memory-safe") {
            let base := add(pos, 0x20)
            let buf := add(base, shl(5, k)) // scratch past the array (not allocated, used only here)
            mstore(buf, seed)
            mstore(add(buf, 0x20), id)
            mstore(add(buf, 0x40), t)
            let m := 0
            for { let c := 0 } lt(c, k) { c := add(c, 1) } {
                mstore(add(buf, 0x60), c)
                let x := mod(keccak256(buf, 0x80), total)
                let i := m
                for {} gt(i, 0) { i := sub(i, 1) } {
                    if iszero(gt(mload(add(base, shl(5, sub(i, 1)))), x)) { break }
                }
                // pos[0..i) <= x < pos[i..m): insert at i unless pos[i-1] == x
                let dup := 0
                if gt(i, 0) { dup := eq(mload(add(base, shl(5, sub(i, 1)))), x) }
                if iszero(dup) {
                    for { let j := m } gt(j, i) { j := sub(j, 1) } {
                        mstore(add(base, shl(5, j)), mload(add(base, shl(5, sub(j, 1)))))
                    }
                    mstore(add(base, shl(5, i)), x)
                    m := add(m, 1)
                }
            }
            mstore(pos, m)
        }
    }

    /// @dev tree.ts verifyMultiProof: leaves of the sorted positions, siblings consumed level by level left to right,
    /// every one exactly once; true iff the root comes out. Works on (position, node) pairs in scratch memory past the
    /// free memory pointer; a node is a word whose top 20 bytes are the node (the low 12 are never hashed: a parent's
    /// preimage 0x01 ‖ l ‖ r is built by writing l at byte 1 and r at byte 21, r overwriting l's tail, and hashing 41
    /// bytes). A sibling overrun reads past `siblings` but can never end exactly at its end, which the last check asks.
    function _verify(uint256[] memory pos, uint256 depth, bytes32 root, bytes calldata leaves, bytes calldata siblings) private pure returns (bool ok) {
        uint256 m = pos.length;
        if (leaves.length != m << 5 || siblings.length % 20 != 0) return false;
        assembly ("memory-safe") {
            let base := mload(0x40)
            let end := add(base, shl(6, m))
            // leaves: pairs (position, leaf node)
            mstore8(0, 0)
            let lp := leaves.offset
            let pp := add(pos, 0x20)
            for { let q := base } lt(q, end) { q := add(q, 0x40) } {
                calldatacopy(1, lp, 32)
                mstore(q, mload(pp))
                mstore(add(q, 0x20), keccak256(0, 33))
                lp := add(lp, 32)
                pp := add(pp, 32)
            }
            mstore8(0, 1)
            let s := siblings.offset
            for { let h := 0 } lt(h, depth) { h := add(h, 1) } {
                let out := base
                for { let q := base } lt(q, end) { q := add(q, 0x40) } {
                    let p := mload(q)
                    switch and(p, 1)
                    case 0 {
                        mstore(1, mload(add(q, 0x20)))
                        let nq := add(q, 0x40)
                        switch and(lt(nq, end), eq(mload(nq), or(p, 1)))
                        case 0 {
                            mstore(0x15, calldataload(s))
                            s := add(s, 20)
                        }
                        default {
                            mstore(0x15, mload(add(nq, 0x20)))
                            q := nq
                        }
                    }
                    default {
                        mstore(1, calldataload(s))
                        mstore(0x15, mload(add(q, 0x20)))
                        s := add(s, 20)
                    }
                    mstore(out, shr(1, p))
                    mstore(add(out, 0x20), keccak256(0, 41))
                    out := add(out, 0x40)
                }
                end := out
            }
            ok := and(eq(s, add(siblings.offset, siblings.length)), eq(and(mload(add(base, 0x20)), NODE_MASK), root))
        }
    }
}
