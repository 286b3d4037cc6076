// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MarketDeals} from "./MarketDeals.sol";

/// @title WorkMarket — outsourced compute (transcoding) jobs: client escrow, worker stake, batched work claims,
/// spot checks from the chain, verdict faults, demands, payment per settled batch.
/// @notice A job is a market Deal (MarketDeals, EIP-712 domain "Souk Market") with `service == "compute"`,
/// `nonce == uint256(termsHash(terms))` (both signatures cover the compute terms) and `collateral == terms.stake`;
/// its id is the Deal's EIP-712 digest. The client (`buyer`) opens it: `units × pricePerUnit` is pulled from the
/// client as escrow and `stake` from the worker (`server`); both approved the token.
///
/// Format (souk.work v1, src/proofs/work/tree.ts, challenge.ts, verdict.ts):
///  - unit u of a job: leaf = keccak256(0x00 ‖ uint32 u ‖ inputHash ‖ outputHash) (69 bytes);
///    node = keccak256(0x01 ‖ left ‖ right); a batch over units [first, first+count) puts unit u at position
///    u - first of a tree padded with bytes32(0) leaves to 2^depth, depth = ceil(log2 count); a path is the
///    siblings bottom-up, bit j of the position says whether the level-j node is a right child.
///  - the seed of batch b is blockhash(seedBlock), seedBlock = claimBlock + challengeDelay; challenged index i
///    (0 <= i < k, k = min(checksPerBatch, count)) is unit first + keccak256(abi.encode(seed, jobId, b, i)) % count.
///  - a Verdict(bytes32 jobId,uint256 batch,uint256 unit,bytes32 output) signed by a checker says "this output for
///    this unit is wrong"; a fault needs `quorum` of them from distinct checkers over the claimed outputHash.
///
/// Life of a batch: the worker claims [nextUnit, nextUnit + count) with a root (`claimWork`). Its dispute window is
/// (seedBlock, seedBlock + disputeWindow]: a fault with a proven leaf and quorum verdicts (`fault`), or a demand by
/// the client or a checker for a challenged unit's leaf (`demand`), which the worker must `answer` within
/// `responseWindow` blocks (an answer keeps the window open for `disputeWindow` blocks after it; an unanswered
/// demand is faulted by anyone after its deadline, `faultMissing`). After the window, with no open demand, anyone
/// settles it (`settle`): `count × pricePerUnit` to the worker's balance.
///
/// Decisions:
///  - A fault credits the finder (msg.sender) its fee `slash × finderBps / 10000` at once. The client's part of the
///    slash (`slash - fee`) and the faulted batch's price stay in the job and reach the client's balance at
///    `finalize`, with the unused escrow: the fault then writes two slots (the batch's and the job's fault word) and
///    the spot check stays within its gas budget. The stake rule at `claimWork` (stake left >= slash × (unresolved
///    batches + 1)) makes every fault slash the full `slash` (min(slash, stake left) == slash).
///  - Terms are checked at `openJob` against the deterrence rule `slash × checksPerBatch >= pricePerUnit × maxBatch`
///    and `stake >= slash` (WorkMarketInsufficientDeterrence); slash 0 is refused (nothing would deter).
///  - `disputeWindow <= 256`, so a batch's seed is in BLOCKHASH's reach during its window; `demand` records the seed,
///    so a window an answer extends still has it; `recordSeed` keeps any seed, and an older unrecorded one is read
///    from the EIP-2935 history contract.
///  - `settle` never reverts for one bad entry (skipped with `SettleSkipped`), only when all are skipped.
///  - fault, demand, answer, settle and finalize move no token (credits only) and make no call that can re-enter (a
///    STATICCALL to the history contract at most), so they carry no reentrancy guard; openJob and withdraw do.
///
/// Invariants (fuzzed against the TypeScript model in test/contracts/work-model.ts):
///  W1 money is conserved: token.balanceOf(this) == Σ held(job) + Σ withdrawable balances, where held =
///     escrowLeft + stakeLeft + owedToClient until finalize and 0 after
///  W2 a batch is resolved at most once: Claimed -> Settled or Claimed -> Faulted, never both, never paid twice
///  W3 the worker is paid from escrow only for settled batches (paid units == Σ count of settled batches), each
///     settled after its dispute window with no open demand
///  W4 slashes <= stake: faults × slash <= stake; each fault pays finderFee to its finder and slash - finderFee to
///     the client (at finalize)
///  W5 a verdict fault needs a challenged unit's leaf proven against the batch root and `quorum` valid signatures
///     from distinct checkers of that job over Verdict(jobId, batch, unit, outputHash); a missing fault needs an
///     open demand past its deadline
///  W6 units are claimed in order without overlap: batch b covers [first_b, first_b + count_b), first_0 = 0,
///     first_{b+1} = first_b + count_b, first_b + count_b <= units, 0 < count_b <= maxBatch
///  W7 only the client opens its job, only the worker claims and answers, only the client or a checker demands
contract WorkMarket is MarketDeals, ReentrancyGuard {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types
    /// @notice The compute terms both parties sign (through the Deal's nonce).
    struct ComputeTerms {
        address token;
        address[] checkers;
        uint8 quorum;
        uint32 units;
        uint32 maxBatch;
        uint256 pricePerUnit;
        uint256 stake;
        uint256 slash;
        uint16 checksPerBatch;
        uint16 finderBps;
        uint32 challengeDelay;
        uint32 disputeWindow;
        uint32 responseWindow;
        uint32 claimWithinBlocks;
        bytes32 profile;
    }

    enum BatchState {
        None,
        Claimed,
        Settled,
        Faulted
    }

    enum DemandState {
        None,
        Open,
        Answered,
        Missed
    }

    enum SkipReason {
        UnknownBatch,
        Settled,
        Faulted,
        WindowOpen,
        DemandOpen
    }

    enum FaultReason {
        Verdict,
        Missing
    }

    /// @dev A job as stored, grouped by the calls that touch each slot.
    struct JobRecord {
        // slot 0: claimWork (read, write), settle (read, write)
        address worker;
        uint32 nextUnit;
        uint32 batches;
        uint32 settled;
        // slot 1: claimWork (read)
        uint32 units;
        uint32 maxBatch;
        uint32 claimDeadline;
        uint32 challengeDelay;
        uint32 cap; // floor(stake / slash): how many unsettled batches the stake backs
        uint16 disputeWindow;
        bool finalized;
        // slot 2: fault and faultMissing (read, write), demand and answer (read)
        uint96 finderFee;
        uint16 checks;
        uint8 quorum;
        uint32 faults;
        uint32 responseWindow;
        // slot 3
        address client;
        uint96 pricePerUnit;
        // slot 4
        uint128 stake;
        uint96 slash;
        uint16 finderBps;
        // slot 5
        uint64 paidUnits;
        uint32 openBlock;
        // slot 6
        bytes32 profile;
    }

    /// @dev A batch: two slots, both written once by claimWork. `meta` is packed by hand (one SLOAD, one SSTORE):
    /// bits [0,32) first, [32,64) count, [64,96) seedBlock, [96,128) windowEnd (the last block of the dispute window;
    /// an answer may move it later), [128,136) state, [136,144) openDemands.
    struct BatchRecord {
        bytes32 root;
        uint256 meta;
    }

    struct Demand {
        uint32 deadline;
        DemandState state;
    }

    /// @notice What `jobs(jobId)` returns.
    struct JobView {
        address client;
        address worker;
        bool finalized;
        uint256 openBlock;
        uint256 claimDeadline;
        uint256 units;
        uint256 nextUnit;
        uint256 batches;
        uint256 settled;
        uint256 faults;
        uint256 paidUnits;
        uint256 escrowLeft;
        uint256 stakeLeft;
        uint256 owedToClient;
    }

    /// @notice What `termsOf(jobId)` returns (the terms as stored).
    struct TermsView {
        uint256 units;
        uint256 maxBatch;
        uint256 pricePerUnit;
        uint256 stake;
        uint256 slash;
        uint256 finderFee;
        uint256 checksPerBatch;
        uint256 quorum;
        uint256 finderBps;
        uint256 challengeDelay;
        uint256 disputeWindow;
        uint256 responseWindow;
        bytes32 profile;
    }

    /// @notice What `batchOf(jobId, batch)` returns.
    struct BatchView {
        BatchState state;
        bytes32 root;
        uint256 first;
        uint256 count;
        uint256 claimBlock;
        uint256 seedBlock;
        uint256 windowEnd;
        uint256 openDemands;
    }

    /// @notice The EIP-2935 block-hash history contract (8191 blocks back, from Prague on).
    address public constant HISTORY = 0x0000F90827F1C53a10cb7A02335B175320002935;
    uint256 public constant MAX_BATCH = 1 << 20;
    uint256 public constant MAX_CHECKS = 64;
    uint256 public constant MAX_CHECKERS = 16;
    uint256 public constant MAX_WINDOW = 256;
    bytes32 public constant VERDICT_TYPEHASH = keccak256("Verdict(bytes32 jobId,uint256 batch,uint256 unit,bytes32 output)");
    bytes32 private constant COMPUTE_SERVICE = keccak256("compute");

    // ---------------------------------------------------------------- state
    IERC20 public immutable token;
    mapping(bytes32 jobId => JobRecord) private _jobs;
    mapping(bytes32 jobId => mapping(uint256 batch => BatchRecord)) private _batches;
    mapping(bytes32 jobId => mapping(address who => bool)) private _checkers;
    mapping(bytes32 jobId => mapping(uint256 batch => mapping(uint256 index => Demand))) private _demands;
    mapping(bytes32 jobId => mapping(uint256 batch => bytes32)) private _seeds;
    /// @dev Withdrawable balance + 1 once an address was ever credited (a slot that never returns to zero keeps
    /// later credits at the cheap nonzero-to-nonzero price).
    mapping(address who => uint256) private _balances;

    // ---------------------------------------------------------------- errors
    error WorkMarketZeroAddress();
    error WorkMarketNotComputeDeal(string service);
    error WorkMarketTermsMismatch(string field);
    error WorkMarketBadTerms(string field);
    error WorkMarketInsufficientDeterrence(uint256 required, uint256 given);
    error WorkMarketNotClient(address client, address sender);
    error WorkMarketJobExists(bytes32 jobId);
    error WorkMarketUnknownJob(bytes32 jobId);
    error WorkMarketNotWorker(address worker, address sender);
    error WorkMarketJobFinalized(bytes32 jobId);
    error WorkMarketClaimClosed(bytes32 jobId, uint256 deadline);
    error WorkMarketUnitsOutOfOrder(bytes32 jobId, uint256 first, uint256 nextUnit);
    error WorkMarketUnitsOutOfRange(bytes32 jobId, uint256 first, uint256 count, uint256 units);
    error WorkMarketBadBatchSize(bytes32 jobId, uint256 count, uint256 maxBatch);
    error WorkMarketZeroRoot(bytes32 jobId);
    error WorkMarketRootAlreadyPosted(bytes32 jobId, bytes32 root);
    error WorkMarketStakeTooLow(bytes32 jobId, uint256 required, uint256 available);
    error WorkMarketUnknownBatch(bytes32 jobId, uint256 batch);
    error WorkMarketBatchResolved(bytes32 jobId, uint256 batch, BatchState state);
    error WorkMarketNotInWindow(bytes32 jobId, uint256 batch, uint256 seedBlock, uint256 windowEnd);
    error WorkMarketIndexOutOfRange(bytes32 jobId, uint256 batch, uint256 index, uint256 k);
    error WorkMarketBadProof(bytes32 jobId, uint256 batch, uint256 unit);
    error WorkMarketQuorumNotMet(bytes32 jobId, uint256 given, uint256 quorum);
    error WorkMarketBadSignature(uint256 index);
    error WorkMarketNotChecker(bytes32 jobId, address signer);
    error WorkMarketDuplicateSigner(address signer);
    error WorkMarketNotClientOrChecker(bytes32 jobId, address sender);
    error WorkMarketAlreadyDemanded(bytes32 jobId, uint256 batch, uint256 index);
    error WorkMarketNoOpenDemand(bytes32 jobId, uint256 batch, uint256 index);
    error WorkMarketResponsePending(bytes32 jobId, uint256 batch, uint256 index, uint256 deadline);
    error WorkMarketResponseLate(bytes32 jobId, uint256 batch, uint256 index, uint256 deadline);
    error WorkMarketEmptySettle();
    error WorkMarketNothingSettled(bytes32 jobId, uint256 batch, SkipReason reason);
    error WorkMarketJobRunning(bytes32 jobId, uint256 claimDeadline);
    error WorkMarketBatchesUnresolved(bytes32 jobId, uint256 unresolved);
    error WorkMarketSeedNotYet(bytes32 jobId, uint256 batch, uint256 seedBlock);
    error WorkMarketSeedUnavailable(bytes32 jobId, uint256 batch, uint256 seedBlock);
    error WorkMarketNothingToWithdraw(address who);

    // ---------------------------------------------------------------- events
    event JobOpened(
        bytes32 indexed jobId, address indexed client, address indexed worker, uint256 units, uint256 escrow, uint256 stake, bytes32 profile
    );
    /// @dev The batch's seed block is the claim's block + challengeDelay (`batchOf` gives it): not repeated here.
    event WorkClaimed(bytes32 indexed jobId, uint256 batch, uint256 first, uint256 count, bytes32 root);
    event BatchFaulted(bytes32 indexed jobId, uint256 batch, address finder, FaultReason reason);
    event ChallengeDemanded(bytes32 indexed jobId, uint256 batch, uint256 index, uint256 unit, address by, uint256 deadline);
    event ChallengeAnswered(bytes32 indexed jobId, uint256 batch, uint256 index, uint256 unit, bytes32 inputHash, bytes32 outputHash, bytes32[] path);
    event BatchSettled(bytes32 indexed jobId, uint256 batch, uint256 paid);
    event SettleSkipped(bytes32 indexed jobId, uint256 batch, SkipReason reason);
    event SeedRecorded(bytes32 indexed jobId, uint256 batch, bytes32 seed);
    event JobFinalized(bytes32 indexed jobId, uint256 toClient, uint256 toWorker);
    event Withdrawn(address indexed who, uint256 amount);

    constructor(IERC20 token_) {
        if (address(token_) == address(0)) revert WorkMarketZeroAddress();
        token = token_;
    }

    // ---------------------------------------------------------------- views
    /// @notice keccak256(abi.encode(t)): the value a compute Deal's `nonce` must carry.
    function termsHash(ComputeTerms calldata t) public pure returns (bytes32) {
        return keccak256(abi.encode(t));
    }

    function jobs(bytes32 jobId) external view returns (JobView memory v) {
        JobRecord storage j = _jobs[jobId];
        bool live = j.worker != address(0) && !j.finalized;
        uint256 faults = j.faults;
        v = JobView({
            client: j.client,
            worker: j.worker,
            finalized: j.finalized,
            openBlock: j.openBlock,
            claimDeadline: j.claimDeadline,
            units: j.units,
            nextUnit: j.nextUnit,
            batches: j.batches,
            settled: j.settled,
            faults: faults,
            paidUnits: j.paidUnits,
            escrowLeft: live ? (uint256(j.units) - j.paidUnits) * j.pricePerUnit : 0,
            stakeLeft: live ? j.stake - faults * j.slash : 0,
            owedToClient: live ? faults * (uint256(j.slash) - j.finderFee) : 0
        });
    }

    function termsOf(bytes32 jobId) external view returns (TermsView memory v) {
        JobRecord storage j = _jobs[jobId];
        v = TermsView({
            units: j.units,
            maxBatch: j.maxBatch,
            pricePerUnit: j.pricePerUnit,
            stake: j.stake,
            slash: j.slash,
            finderFee: j.finderFee,
            checksPerBatch: j.checks,
            quorum: j.quorum,
            finderBps: j.finderBps,
            challengeDelay: j.challengeDelay,
            disputeWindow: j.disputeWindow,
            responseWindow: j.responseWindow,
            profile: j.profile
        });
    }

    function batchOf(bytes32 jobId, uint256 batch) external view returns (BatchView memory v) {
        BatchRecord storage b = _batches[jobId][batch];
        uint256 m = b.meta;
        uint256 delay = _jobs[jobId].challengeDelay;
        v = BatchView({
            state: _state(m),
            root: b.root,
            first: _first(m),
            count: _count(m),
            claimBlock: _state(m) == BatchState.None ? 0 : _seedBlock(m) - delay,
            seedBlock: _seedBlock(m),
            windowEnd: _windowEnd(m),
            openDemands: _openDemands(m)
        });
    }

    function demandOf(bytes32 jobId, uint256 batch, uint256 index) external view returns (DemandState state, uint256 deadline) {
        Demand storage d = _demands[jobId][batch][index];
        return (d.state, d.deadline);
    }

    function isChecker(bytes32 jobId, address who) external view returns (bool) {
        return _checkers[jobId][who];
    }

    /// @notice What `who` can withdraw.
    function balanceOf(address who) public view returns (uint256) {
        uint256 b = _balances[who];
        return b == 0 ? 0 : b - 1;
    }

    /// @notice The seed of a batch: recorded, else blockhash (256 blocks), else EIP-2935 history; reverts if none.
    function seedOf(bytes32 jobId, uint256 batch) public view returns (bytes32) {
        return _seed(jobId, batch, _seedBlock(_knownBatch(jobId, batch).meta));
    }

    /// @notice The units challenged in a batch, by index i = 0..k-1 (k = min(checksPerBatch, count); repeats possible).
    function challengedUnits(bytes32 jobId, uint256 batch) external view returns (uint256[] memory units) {
        uint256 m = _knownBatch(jobId, batch).meta;
        bytes32 seed = _seed(jobId, batch, _seedBlock(m));
        uint256 count = _count(m);
        uint256 k = _k(_jobs[jobId].checks, count);
        units = new uint256[](k);
        for (uint256 i = 0; i < k; i++) units[i] = _unitOf(seed, jobId, batch, i, _first(m), count);
    }

    /// @notice The leaf of a unit (souk.work v1).
    function leafOf(uint256 unit, bytes32 inputHash, bytes32 outputHash) external pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(0), uint32(unit), inputHash, outputHash));
    }

    /// @notice Whether `path` proves unit's leaf in the tree of a batch [first, first + count) with `root`.
    function verifyLeaf(bytes32 root, uint256 first, uint256 count, uint256 unit, bytes32 inputHash, bytes32 outputHash, bytes32[] calldata path)
        external
        pure
        returns (bool)
    {
        if (count == 0 || unit < first || unit >= first + count) return false;
        return _proves(root, unit - first, _depth(count), unit, inputHash, outputHash, path);
    }

    /// @notice The EIP-712 digest a checker signs for a Verdict (src/proofs/work/verdict.ts's `verdictDigest`).
    function verdictDigest(bytes32 jobId, uint256 batch, uint256 unit, bytes32 output) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VERDICT_TYPEHASH, jobId, batch, unit, output)));
    }

    // ---------------------------------------------------------------- job life
    /// @notice The client opens a job both parties signed: escrows `units × pricePerUnit` from itself and pulls
    /// `stake` from the worker. Emits a {JobOpened} event.
    function openJob(Deal calldata d, bytes calldata serverSig, bytes calldata buyerSig, ComputeTerms calldata t)
        external
        nonReentrant
        returns (bytes32 jobId)
    {
        if (msg.sender != d.buyer) revert WorkMarketNotClient(d.buyer, msg.sender);
        if (keccak256(bytes(d.service)) != COMPUTE_SERVICE) revert WorkMarketNotComputeDeal(d.service);
        if (d.nonce != uint256(termsHash(t))) revert WorkMarketTermsMismatch("nonce");
        if (d.collateral != t.stake) revert WorkMarketTermsMismatch("collateral");
        uint256 escrow = _checkTerms(t);
        jobId = _verifyDeal(d, serverSig, buyerSig);
        JobRecord storage j = _jobs[jobId];
        if (j.worker != address(0)) revert WorkMarketJobExists(jobId);
        uint256 cap = t.stake / t.slash;
        uint256 fee = (t.slash * t.finderBps) / 10_000;
        j.worker = d.server;
        j.units = t.units;
        j.maxBatch = t.maxBatch;
        j.claimDeadline = uint32(block.number + t.claimWithinBlocks);
        j.challengeDelay = t.challengeDelay;
        j.cap = uint32(cap > type(uint32).max ? type(uint32).max : cap);
        j.disputeWindow = uint16(t.disputeWindow);
        j.finderFee = uint96(fee);
        j.checks = t.checksPerBatch;
        j.quorum = t.quorum;
        j.responseWindow = t.responseWindow;
        j.client = msg.sender;
        j.pricePerUnit = uint96(t.pricePerUnit);
        j.stake = uint128(t.stake);
        j.slash = uint96(t.slash);
        j.finderBps = t.finderBps;
        j.openBlock = uint32(block.number);
        j.profile = t.profile;
        for (uint256 i = 0; i < t.checkers.length; i++) _checkers[jobId][t.checkers[i]] = true;
        emit JobOpened(jobId, msg.sender, d.server, t.units, escrow, t.stake, t.profile);
        if (escrow != 0) token.safeTransferFrom(msg.sender, address(this), escrow);
        token.safeTransferFrom(d.server, address(this), t.stake);
    }

    function _checkTerms(ComputeTerms calldata t) private view returns (uint256 escrow) {
        if (t.token != address(token)) revert WorkMarketBadTerms("token");
        if (t.units == 0) revert WorkMarketBadTerms("units");
        if (t.maxBatch == 0 || t.maxBatch > MAX_BATCH) revert WorkMarketBadTerms("maxBatch");
        if (t.checksPerBatch == 0 || t.checksPerBatch > MAX_CHECKS) revert WorkMarketBadTerms("checksPerBatch");
        uint256 n = t.checkers.length;
        if (n == 0 || n > MAX_CHECKERS) revert WorkMarketBadTerms("checkers");
        for (uint256 i = 0; i < n; i++) {
            address c = t.checkers[i];
            if (c == address(0)) revert WorkMarketBadTerms("checkers");
            for (uint256 k = 0; k < i; k++) if (t.checkers[k] == c) revert WorkMarketBadTerms("checkers");
        }
        if (t.quorum == 0 || t.quorum > n) revert WorkMarketBadTerms("quorum");
        if (t.finderBps > 10_000) revert WorkMarketBadTerms("finderBps");
        if (t.challengeDelay == 0) revert WorkMarketBadTerms("challengeDelay");
        if (t.disputeWindow == 0 || t.disputeWindow > MAX_WINDOW) revert WorkMarketBadTerms("disputeWindow");
        if (t.responseWindow == 0) revert WorkMarketBadTerms("responseWindow");
        if (t.claimWithinBlocks == 0) revert WorkMarketBadTerms("claimWithinBlocks");
        if (t.slash == 0) revert WorkMarketBadTerms("slash");
        if (t.slash > type(uint96).max || t.pricePerUnit > type(uint96).max || t.stake > type(uint128).max) revert WorkMarketBadTerms("amount");
        escrow = t.pricePerUnit * t.units;
        if (escrow > type(uint128).max) revert WorkMarketBadTerms("amount");
        uint256 required = t.pricePerUnit * t.maxBatch;
        uint256 given = t.slash * t.checksPerBatch;
        if (given < required) revert WorkMarketInsufficientDeterrence(required, given);
        if (t.stake < t.slash) revert WorkMarketInsufficientDeterrence(t.slash, t.stake);
        // The last block any window can reach: claims until the deadline, then at most one extension per index.
        uint256 last = block.number + uint256(t.claimWithinBlocks) + t.challengeDelay + (MAX_CHECKS + 1) * (uint256(t.disputeWindow) + t.responseWindow);
        if (last > type(uint32).max) revert WorkMarketBadTerms("duration");
    }

    /// @notice The worker claims the units [first, first + count) with the root of their tree; the next unclaimed
    /// unit must be `first`. Its challenges are drawn from block claimBlock + challengeDelay. Emits {WorkClaimed}.
    function claimWork(bytes32 jobId, uint256 first, uint256 count, bytes32 root) external returns (uint256 batch) {
        JobRecord storage j = _jobs[jobId];
        address worker = j.worker;
        if (worker == address(0)) revert WorkMarketUnknownJob(jobId);
        if (msg.sender != worker) revert WorkMarketNotWorker(worker, msg.sender);
        if (j.finalized) revert WorkMarketJobFinalized(jobId);
        if (block.number > j.claimDeadline) revert WorkMarketClaimClosed(jobId, j.claimDeadline);
        uint256 next = j.nextUnit;
        if (first != next) revert WorkMarketUnitsOutOfOrder(jobId, first, next);
        if (first + count > j.units) revert WorkMarketUnitsOutOfRange(jobId, first, count, j.units);
        if (count == 0 || count > j.maxBatch) revert WorkMarketBadBatchSize(jobId, count, j.maxBatch);
        if (root == 0) revert WorkMarketZeroRoot(jobId);
        batch = j.batches;
        uint256 seedBlock;
        uint256 windowEnd;
        // Safe: batch >= settled (each settled batch was claimed); first + count <= units < 2^32 (checked above), so
        // batch + 1 <= units; block.number + challengeDelay + disputeWindow < 2^32 (the duration check at openJob).
        unchecked {
            if (batch != 0 && _batches[jobId][batch - 1].root == root) revert WorkMarketRootAlreadyPosted(jobId, root);
            // unsettled = unresolved + faulted: stake left >= slash × (unresolved + 1) <=> cap >= unsettled + 1
            uint256 unsettled = batch - j.settled;
            if (unsettled >= j.cap) _stakeTooLow(jobId, j, unsettled);
            seedBlock = block.number + j.challengeDelay;
            windowEnd = seedBlock + j.disputeWindow;
            j.nextUnit = uint32(first + count);
            j.batches = uint32(batch + 1);
        }
        BatchRecord storage b = _batches[jobId][batch];
        b.root = root;
        b.meta = first | (count << 32) | (seedBlock << 64) | (windowEnd << 96) | (uint256(BatchState.Claimed) << 128);
        emit WorkClaimed(jobId, batch, first, count, root);
    }

    function _stakeTooLow(bytes32 jobId, JobRecord storage j, uint256 unsettled) private view {
        uint256 faults = j.faults;
        uint256 unresolved = unsettled - faults;
        revert WorkMarketStakeTooLow(jobId, uint256(j.slash) * (unresolved + 1), j.stake - faults * uint256(j.slash));
    }

    /// @notice Anyone (the finder) faults a batch whose challenged index `i` has a wrong output: the unit's leaf
    /// (inputHash, outputHash) proven by `path` against the batch's root, and `quorum` checkers' signatures over
    /// Verdict(jobId, batch, unit, outputHash). The batch is never paid; the finder is credited `slash × finderBps /
    /// 10000` and the client `slash` minus that (at finalize). Emits a {BatchFaulted} event.
    function fault(bytes32 jobId, uint256 batch, uint256 i, bytes32 inputHash, bytes32 outputHash, bytes32[] calldata path, bytes[] calldata sigs)
        external
    {
        BatchRecord storage b = _batches[jobId][batch];
        uint256 m = b.meta;
        (uint256 unit, uint256 first, uint256 count) = _challenged(jobId, batch, m, i);
        if (!_proves(b.root, unit - first, _depth(count), unit, inputHash, outputHash, path)) revert WorkMarketBadProof(jobId, batch, unit);
        JobRecord storage j = _jobs[jobId];
        uint256 quorum = j.quorum;
        if (sigs.length < quorum) revert WorkMarketQuorumNotMet(jobId, sigs.length, quorum);
        _checkVerdicts(jobId, verdictDigest(jobId, batch, unit, outputHash), sigs);
        b.meta = _withState(m, BatchState.Faulted);
        _slash(jobId, j, batch, FaultReason.Verdict);
    }

    /// @dev Every signature recovers to a distinct checker of the job.
    function _checkVerdicts(bytes32 jobId, bytes32 digest, bytes[] calldata sigs) private view {
        address[] memory seen = new address[](sigs.length);
        for (uint256 s = 0; s < sigs.length; s++) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, sigs[s]);
            if (err != ECDSA.RecoverError.NoError || signer == address(0)) revert WorkMarketBadSignature(s);
            if (!_checkers[jobId][signer]) revert WorkMarketNotChecker(jobId, signer);
            for (uint256 k = 0; k < s; k++) if (seen[k] == signer) revert WorkMarketDuplicateSigner(signer);
            seen[s] = signer;
        }
    }

    /// @dev Records a fault of a batch (its state already set): the finder's fee now, the client's part at finalize.
    function _slash(bytes32 jobId, JobRecord storage j, uint256 batch, FaultReason why) private {
        uint256 fee = j.finderFee;
        // faults <= cap < 2^32: every fault resolves a claimed batch, and claims stop at cap unsettled batches.
        j.faults += 1;
        _credit(msg.sender, fee);
        emit BatchFaulted(jobId, batch, msg.sender, why);
    }

    /// @notice The client or a checker asks the worker for the leaf of challenged index `i`; the worker must answer
    /// within responseWindow blocks, else anyone may fault the batch. Emits a {ChallengeDemanded} event.
    function demand(bytes32 jobId, uint256 batch, uint256 i) external {
        BatchRecord storage b = _batches[jobId][batch];
        uint256 m = b.meta;
        (uint256 unit,,) = _challenged(jobId, batch, m, i);
        JobRecord storage j = _jobs[jobId];
        if (msg.sender != j.client && !_checkers[jobId][msg.sender]) revert WorkMarketNotClientOrChecker(jobId, msg.sender);
        Demand storage d = _demands[jobId][batch][i];
        if (d.state != DemandState.None) revert WorkMarketAlreadyDemanded(jobId, batch, i);
        uint256 deadline = block.number + j.responseWindow;
        d.deadline = uint32(deadline);
        d.state = DemandState.Open;
        b.meta = m + (1 << 136); // openDemands + 1: one demand per index, k <= 64
        if (_seeds[jobId][batch] == 0) {
            bytes32 seed = _seed(jobId, batch, _seedBlock(m));
            _seeds[jobId][batch] = seed;
            emit SeedRecorded(jobId, batch, seed);
        }
        emit ChallengeDemanded(jobId, batch, i, unit, msg.sender, deadline);
    }

    /// @notice The worker answers a demand with the unit's leaf and its path; the batch's dispute window then stays
    /// open at least disputeWindow blocks more. Emits a {ChallengeAnswered} event carrying the leaf and the path.
    function answer(bytes32 jobId, uint256 batch, uint256 i, bytes32 inputHash, bytes32 outputHash, bytes32[] calldata path) external {
        BatchRecord storage b = _batches[jobId][batch];
        uint256 m = b.meta;
        if (_state(m) == BatchState.None) _unknown(jobId, batch);
        JobRecord storage j = _jobs[jobId];
        if (msg.sender != j.worker) revert WorkMarketNotWorker(j.worker, msg.sender);
        if (_state(m) != BatchState.Claimed) revert WorkMarketBatchResolved(jobId, batch, _state(m));
        Demand storage d = _demands[jobId][batch][i];
        if (d.state != DemandState.Open) revert WorkMarketNoOpenDemand(jobId, batch, i);
        if (block.number > d.deadline) revert WorkMarketResponseLate(jobId, batch, i, d.deadline);
        uint256 first = _first(m);
        uint256 count = _count(m);
        uint256 unit = _unitOf(_seed(jobId, batch, _seedBlock(m)), jobId, batch, i, first, count);
        if (!_proves(b.root, unit - first, _depth(count), unit, inputHash, outputHash, path)) revert WorkMarketBadProof(jobId, batch, unit);
        d.state = DemandState.Answered;
        m -= 1 << 136; // openDemands - 1 (this demand was open)
        uint256 until = block.number + j.disputeWindow;
        // until < 2^32: checked at openJob (at most one extension per index)
        if (until > _windowEnd(m)) m = (m & ~(uint256(0xffffffff) << 96)) | (until << 96);
        b.meta = m;
        emit ChallengeAnswered(jobId, batch, i, unit, inputHash, outputHash, path);
    }

    /// @notice Anyone faults a batch whose demand for index `i` was not answered by its deadline (the finder's fee
    /// to the caller, as {fault}). Emits a {BatchFaulted} event.
    function faultMissing(bytes32 jobId, uint256 batch, uint256 i) external {
        BatchRecord storage b = _batches[jobId][batch];
        uint256 m = b.meta;
        if (_state(m) == BatchState.None) _unknown(jobId, batch);
        if (_state(m) != BatchState.Claimed) revert WorkMarketBatchResolved(jobId, batch, _state(m));
        Demand storage d = _demands[jobId][batch][i];
        if (d.state != DemandState.Open) revert WorkMarketNoOpenDemand(jobId, batch, i);
        if (block.number <= d.deadline) revert WorkMarketResponsePending(jobId, batch, i, d.deadline);
        d.state = DemandState.Missed;
        b.meta = _withState(m - (1 << 136), BatchState.Faulted);
        _slash(jobId, _jobs[jobId], batch, FaultReason.Missing);
    }

    /// @notice Anyone pays the worker for batches whose dispute window is over with no open demand: `count ×
    /// pricePerUnit` each. A bad entry is skipped with {SettleSkipped}; reverts only if every entry is. Emits
    /// {BatchSettled} for each batch paid.
    function settle(bytes32 jobId, uint256[] calldata batches) external returns (uint256 paidBatches) {
        if (batches.length == 0) revert WorkMarketEmptySettle();
        JobRecord storage j = _jobs[jobId];
        address worker = j.worker;
        if (worker == address(0)) revert WorkMarketUnknownJob(jobId);
        uint256 price = j.pricePerUnit;
        uint256 units;
        uint256 firstBatch;
        SkipReason firstWhy;
        bool skipped;
        for (uint256 n = 0; n < batches.length; n++) {
            uint256 bi = batches[n];
            BatchRecord storage b = _batches[jobId][bi];
            uint256 m = b.meta;
            BatchState st = _state(m);
            SkipReason why;
            if (st == BatchState.None) why = SkipReason.UnknownBatch;
            else if (st == BatchState.Settled) why = SkipReason.Settled;
            else if (st == BatchState.Faulted) why = SkipReason.Faulted;
            else if (block.number <= _windowEnd(m)) why = SkipReason.WindowOpen;
            else if (_openDemands(m) != 0) why = SkipReason.DemandOpen;
            else {
                b.meta = _withState(m, BatchState.Settled);
                uint256 c = _count(m);
                unchecked {
                    units += c;
                    paidBatches++;
                }
                emit BatchSettled(jobId, bi, c * price);
                continue;
            }
            emit SettleSkipped(jobId, bi, why);
            if (!skipped) (skipped, firstBatch, firstWhy) = (true, bi, why);
        }
        if (paidBatches == 0) revert WorkMarketNothingSettled(jobId, firstBatch, firstWhy);
        // settled <= batches < 2^32 and paidUnits <= units < 2^32: each batch settles once.
        j.settled += uint32(paidBatches);
        j.paidUnits += uint64(units);
        _credit(worker, units * price);
    }

    /// @notice Anyone ends a job once every claimed batch is resolved and either every unit is claimed or the claim
    /// deadline passed: the unused escrow (unclaimed and faulted units) and the client's part of each slash go to the
    /// client, the stake left to the worker. Emits a {JobFinalized} event.
    function finalize(bytes32 jobId) external {
        JobRecord storage j = _jobs[jobId];
        if (j.worker == address(0)) revert WorkMarketUnknownJob(jobId);
        if (j.finalized) revert WorkMarketJobFinalized(jobId);
        if (j.nextUnit < j.units && block.number <= j.claimDeadline) revert WorkMarketJobRunning(jobId, j.claimDeadline);
        uint256 faults = j.faults;
        uint256 unresolved = uint256(j.batches) - j.settled - faults;
        if (unresolved != 0) revert WorkMarketBatchesUnresolved(jobId, unresolved);
        uint256 slash = j.slash;
        uint256 toClient = (uint256(j.units) - j.paidUnits) * j.pricePerUnit + faults * (slash - j.finderFee);
        uint256 toWorker = j.stake - faults * slash;
        j.finalized = true;
        _credit(j.client, toClient);
        _credit(j.worker, toWorker);
        emit JobFinalized(jobId, toClient, toWorker);
    }

    /// @notice Keeps a batch's seed in storage (anyone; idempotent) so it outlives BLOCKHASH's 256 blocks.
    function recordSeed(bytes32 jobId, uint256 batch) external returns (bytes32 seed) {
        seed = seedOf(jobId, batch);
        if (_seeds[jobId][batch] == 0) {
            _seeds[jobId][batch] = seed;
            emit SeedRecorded(jobId, batch, seed);
        }
    }

    /// @notice Pays out the caller's whole withdrawable balance. Emits a {Withdrawn} event.
    function withdraw() external nonReentrant {
        uint256 amount = balanceOf(msg.sender);
        if (amount == 0) revert WorkMarketNothingToWithdraw(msg.sender);
        _balances[msg.sender] = 1;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- internals
    /// @dev The checks shared by fault and demand: the batch is claimed and unresolved, the block is in its dispute
    /// window, `i` is a challenged index. Returns the challenged unit and the batch's range.
    function _challenged(bytes32 jobId, uint256 batch, uint256 m, uint256 i) private view returns (uint256 unit, uint256 first, uint256 count) {
        BatchState st = _state(m);
        if (st != BatchState.Claimed) {
            if (st == BatchState.None) _unknown(jobId, batch);
            revert WorkMarketBatchResolved(jobId, batch, st);
        }
        uint256 seedBlock = _seedBlock(m);
        uint256 windowEnd = _windowEnd(m);
        if (block.number <= seedBlock || block.number > windowEnd) revert WorkMarketNotInWindow(jobId, batch, seedBlock, windowEnd);
        first = _first(m);
        count = _count(m);
        uint256 k = _k(_jobs[jobId].checks, count);
        if (i >= k) revert WorkMarketIndexOutOfRange(jobId, batch, i, k);
        bytes32 seed = blockhash(seedBlock);
        if (seed == 0) seed = _seed(jobId, batch, seedBlock);
        unit = _unitOf(seed, jobId, batch, i, first, count);
    }

    function _unknown(bytes32 jobId, uint256 batch) private view {
        if (_jobs[jobId].worker == address(0)) revert WorkMarketUnknownJob(jobId);
        revert WorkMarketUnknownBatch(jobId, batch);
    }

    function _knownBatch(bytes32 jobId, uint256 batch) private view returns (BatchRecord storage b) {
        b = _batches[jobId][batch];
        if (_state(b.meta) == BatchState.None) _unknown(jobId, batch);
    }

    function _first(uint256 m) private pure returns (uint256) {
        return uint32(m);
    }

    function _count(uint256 m) private pure returns (uint256) {
        return uint32(m >> 32);
    }

    function _seedBlock(uint256 m) private pure returns (uint256) {
        return uint32(m >> 64);
    }

    function _windowEnd(uint256 m) private pure returns (uint256) {
        return uint32(m >> 96);
    }

    function _state(uint256 m) private pure returns (BatchState) {
        return BatchState(uint8(m >> 128));
    }

    function _openDemands(uint256 m) private pure returns (uint256) {
        return uint8(m >> 136);
    }

    function _withState(uint256 m, BatchState st) private pure returns (uint256) {
        return (m & ~(uint256(0xff) << 128)) | (uint256(st) << 128);
    }

    function _k(uint256 checks, uint256 count) private pure returns (uint256) {
        return checks < count ? checks : count;
    }

    function _unitOf(bytes32 seed, bytes32 jobId, uint256 batch, uint256 i, uint256 first, uint256 count) private pure returns (uint256) {
        return first + uint256(keccak256(abi.encode(seed, jobId, batch, i))) % count;
    }

    /// @dev ceil(log2 count) for count >= 1.
    function _depth(uint256 count) private pure returns (uint256 d) {
        while ((1 << d) < count) d++;
    }

    /// @dev Whether `path` (siblings bottom-up) leads from the unit's leaf at position `pos` to `root`. The leaf's
    /// preimage 0x00 ‖ uint32 unit ‖ inputHash ‖ outputHash (69 bytes) and each node's 0x01 ‖ left ‖ right (65 bytes)
    /// are built in scratch memory past the free memory pointer (not allocated, used only here).
    function _proves(bytes32 root, uint256 pos, uint256 depth, uint256 unit, bytes32 inputHash, bytes32 outputHash, bytes32[] calldata path)
        private
        pure
        returns (bool ok)
    {
        if (path.length != depth) return false;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0)
            mstore(add(m, 1), shl(224, unit))
            mstore(add(m, 5), inputHash)
            mstore(add(m, 37), outputHash)
            let h := keccak256(m, 69)
            mstore8(m, 1)
            let p := path.offset
            for { let l := 0 } lt(l, depth) { l := add(l, 1) } {
                let s := calldataload(add(p, shl(5, l)))
                switch and(shr(l, pos), 1)
                case 0 {
                    mstore(add(m, 1), h)
                    mstore(add(m, 33), s)
                }
                default {
                    mstore(add(m, 1), s)
                    mstore(add(m, 33), h)
                }
                h := keccak256(m, 65)
            }
            ok := eq(h, root)
        }
    }

    function _credit(address who, uint256 amount) private {
        if (amount == 0) return;
        uint256 b = _balances[who];
        _balances[who] = (b == 0 ? 1 : b) + amount;
    }

    function _seed(bytes32 jobId, uint256 batch, uint256 seedBlock) private view returns (bytes32 s) {
        s = _seeds[jobId][batch];
        if (s != 0) return s;
        if (seedBlock >= block.number) revert WorkMarketSeedNotYet(jobId, batch, seedBlock);
        if (block.number - seedBlock <= 256) return blockhash(seedBlock);
        if (HISTORY.code.length != 0) {
            (bool ok, bytes memory ret) = HISTORY.staticcall(abi.encode(seedBlock));
            if (ok && ret.length == 32) {
                s = abi.decode(ret, (bytes32));
                if (s != 0) return s;
            }
        }
        revert WorkMarketSeedUnavailable(jobId, batch, seedBlock);
    }
}
