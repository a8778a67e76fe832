export {
  CATEGORIES,
  type Catalog,
  type Category,
  DEFAULT_CATALOG_PATH,
  DETAIL_FIELDS,
  type DetailField,
  type Fee,
  type FeeSchedule,
  type Licensor,
  loadCatalog,
  type Product,
  parseCatalog,
  type ReportCategory,
} from './catalog.js';
export { ConfigError, type Env, parseEnv } from './env.js';
export { formatMicros, MICROS_PER_DOLLAR, type Micros, moneySchema, parseMicros } from './money.js';
export { packageRoot } from './paths.js';
