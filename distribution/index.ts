/**
 * Distribution: the client WebSocket (`/stocks`, Polygon's protocol) and REST snapshots, fan-out
 * per entitlement, the delay line, slow-consumer handling, session limits and display metering.
 * docs/distribution.md describes the protocol, the limits and the usage events.
 */
export { Edge, type EdgeDeps } from './edge.js';
export type { EntitlementView, Principal } from './entitlement-view.js';
export { defaultEdgeId, type EdgeOptions, type EdgeOverrides, edgeOptions } from './options.js';
export { isHistoryRange, type PassthroughOptions } from './passthrough.js';
export { ERROR_CODES } from './protocol.js';
export { restRouteDocs, streamRouteDocs } from './rest-docs.js';
export { SpoolFile, type SpoolFileOptions } from './spool-file.js';
