/**
 * Usage: what was displayed, counted exactly. The usage event contract the edges emit, the meter
 * that commits those events into the ledger (idempotently, by event id), dead letters, the session
 * sweeper, monthly usage per (user, product), the exchange usage reports built from it — the
 * report itself, each licensor's summary and detail files (validated as the licensor would), the
 * unused entitlements finance reads — and their filings: frozen bytes, drift from late usage and
 * corrections, amendments. docs/usage-reports.md describes the ledger, the reports, their formats
 * and the filings.
 */
export { type AmendInput, type Amendment, type AmendmentDelta, amendFiling, MAX_REASON } from './amend.js';
export { type DailySubscribers, type DailyUsage, readDailyUsage } from './daily.js';
export { type DeadLetter, recordDeadLetters } from './dead-letters.js';
export { type Decoded, decodeUsageEntry } from './decode.js';
export {
  type Change,
  type Correction,
  compareReports,
  diffMonth,
  type FilingDiff,
  type LateEvent,
  type ReportDelta,
  type RowChange,
  type SubscriberChange,
} from './drift.js';
export {
  type ChainDrift,
  type DriftState,
  type DriftWatch,
  type DriftWatchOptions,
  startDriftWatch,
} from './drift-watch.js';
export {
  dayNumber,
  dayString,
  deliveriesEvent,
  firstAccessEvent,
  parseUsageEvent,
  QUERY_TYPES,
  type QueryType,
  queryEvent,
  sessionCloseEvent,
  sessionOpenEvent,
  USAGE_EVENT_VERSION,
  USAGE_KINDS,
  USAGE_STREAM,
  type UsageEvent,
  type UsageEventKind,
  type UsageKind,
  usageEventSchema,
} from './event.js';
export {
  type EvidencePack,
  type EvidencePackOptions,
  type PackRequest,
  packEvidence,
  VERIFY_SCRIPT,
} from './evidence-pack.js';
export { type EvidenceRoutesDeps, evidenceRouteDocs, evidenceRoutes } from './evidence-routes.js';
export { FILING_FILES, type FilingFile } from './filing-files.js';
export { type FilingRoutesDeps, filingRouteDocs, filingRoutes } from './filing-routes.js';
export { scopeWords } from './filing-scope.js';
export type { Filing } from './filing-store.js';
export {
  type FileInput,
  type FilingList,
  fileReport,
  type ListedFiling,
  listFilings,
  type ReportContext,
  readFiledFile,
} from './filings.js';
export { type GeneratedReport, type GenerateOptions, generateUsageReport, REPORT_ACTOR } from './generate.js';
export { deviceKey, EDGE_LOST, type LedgerWrite, type LedgerWriteOptions, writeLedger } from './ledger.js';
export {
  buildLicensorFiles,
  type LicensorDetailRow,
  type LicensorFiles,
  type LicensorSummaryRow,
  type SubscriberContact,
} from './licensor-file.js';
export {
  DETAIL_COLUMNS,
  formatLicensorFile,
  type LicensorFileKind,
  licensorCsv,
  licensorJson,
  SUMMARY_COLUMNS,
} from './licensor-format.js';
export { type GeneratedLicensorFile, generateLicensorFile } from './licensor-generate.js';
export { LicensorFileError, type LicensorProblem, validateLicensorFiles } from './licensor-validate.js';
export { METER_GROUP, type Meter, type MeterOptions, runMeter } from './meter.js';
export { parseUsageMonth, type UsageMonth, utcDay } from './month.js';
export { type DeviceUsage, type MonthlyUsage, readMonthlyUsage } from './monthly.js';
export {
  buildUsageReport,
  type DetailRow,
  type FeeText,
  ReportError,
  type ScheduleHeader,
  type SummaryRow,
  type UsageReport,
} from './report.js';
export {
  CONTENT_TYPES,
  formatReport,
  REPORT_FORMATS,
  type ReportFormat,
  reportCsv,
  reportJson,
} from './report-format.js';
export { type ReportRoutesDeps, reportRouteDocs, reportRoutes } from './routes.js';
export { type SessionSweeper, type SessionSweeperOptions, startSessionSweeper } from './session-sweeper.js';
export { readUnusedEntitlements, type UnusedEntitlement, type UnusedReport } from './unused.js';
export { formatUnused, unusedCsv } from './unused-format.js';
