/**
 * The audit log: hash-chained, append-only, written in the transaction of the change it records,
 * and checkpointed outside the database with a signature. docs/audit.md describes the format.
 */
export { appendAudit } from './append.js';
export { CanonicalJsonError, canonicalJson } from './canonical.js';
export {
  type AuditEntry,
  type AuditRecord,
  type ChainHead,
  GENESIS_HASH,
  recordHash,
  recordJson,
  type StoredRecord,
  sealRecord,
} from './chain.js';
export {
  CHECKPOINT_ACTION,
  type Checkpoint,
  readCheckpoints,
  readStore,
  signCheckpoint,
  type TakeCheckpointResult,
  takeCheckpoint,
} from './checkpoint.js';
export {
  type CheckpointKey,
  type CheckpointOptions,
  checkpointOptions,
  keyPlacementWarning,
  loadCheckpointKey,
  loadVerifyKey,
  type VerifyKey,
} from './checkpoint-key.js';
export {
  type Checkpointer,
  type CheckpointerOptions,
  createCheckpointer,
  startAuditCheckpoints,
} from './checkpointer.js';
export { type DailySubscribers, type DailyUsage, readDailyUsage } from './daily-usage.js';
export { type DeadLetter, recordDeadLetters } from './dead-letters.js';
export { deviceKey, EDGE_LOST, type LedgerWrite, writeLedger } from './ledger.js';
export { METER_GROUP, type Meter, type MeterOptions, runMeter, startMeter } from './meter.js';
export { type DeviceUsage, type MonthlyUsage, readMonthlyUsage } from './monthly.js';
export {
  type AuditFilter,
  type AuditPage,
  type AuditQuery,
  auditFilterSchema,
  auditQuerySchema,
  describeIssues,
  parseInstant,
  queryAudit,
  streamAudit,
} from './query.js';
export { type GeneratedReport, type GenerateOptions, generateUsageReport, REPORT_ACTOR } from './report.js';
export {
  CONTENT_TYPES,
  formatReport,
  REPORT_FORMATS,
  type ReportFormat,
  reportCsv,
  reportJson,
} from './report-format.js';
export { type ReportRoutesDeps, reportRoutes } from './report-routes.js';
export { type AuditRoutesOptions, auditRoutes } from './routes.js';
export { type SessionSweeper, type SessionSweeperOptions, startSessionSweeper } from './session-sweeper.js';
export { type Decoded, decodeUsageEntry } from './usage-decode.js';
export { parseUsageMonth, type UsageMonth, utcDay } from './usage-month.js';
export {
  buildUsageReport,
  type DetailRow,
  type FeeText,
  ReportError,
  type ScheduleHeader,
  type SummaryRow,
  type UsageReport,
} from './usage-report.js';
export { type VerifyOptions, type VerifyResult, verifyAudit, type WitnessReport } from './verify.js';
export type { VerifyFailure, VerifyReason } from './walk.js';
export { type CheckpointStore, checkpointFile, primaryStore, witnessStores } from './witness.js';
export { WitnessDelivery, type WitnessStatus } from './witness-delivery.js';
export { httpWitness } from './witness-http.js';
