// The guestbook load generator and its verifier (public library API).
export {
  DEFAULT_MIX,
  TimeSource,
  randomPage,
  runLoad,
  type LoadMix,
  type LoadOptions,
  type LoadProgress,
  type LoadSummary,
} from './generator.js'
export {
  JournalWriter,
  messageHash,
  readJournal,
  type ChangeOp,
  type JournalChange,
  type JournalEnd,
  type JournalLine,
  type JournalStart,
} from './journal.js'
export {
  renderVerifyReport,
  verifyJournal,
  type Difference,
  type DifferenceKind,
  type VerifyCounts,
  type VerifyOptions,
  type VerifyReport,
} from './verify.js'
