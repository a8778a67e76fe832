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
  keyPlacementWarning,
  loadCheckpointKey,
  loadVerifyKey,
  type VerifyKey,
} from './checkpoint-key.js';
export {
  type Checkpointer,
  type CheckpointerOptions,
  createCheckpointer,
} from './checkpointer.js';
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
export { type AuditRoutesOptions, auditRouteDocs, auditRoutes } from './routes.js';
export { type AuditSegment, type ReadSegmentResult, readAuditSegment } from './segment.js';
export { type VerifyOptions, type VerifyResult, verifyAudit, type WitnessReport } from './verify.js';
export type { VerifyFailure, VerifyReason } from './walk.js';
export { type CheckpointStore, checkpointFile, primaryStore, witnessStores } from './witness.js';
export { WitnessDelivery, type WitnessStatus } from './witness-delivery.js';
export { httpWitness } from './witness-http.js';
