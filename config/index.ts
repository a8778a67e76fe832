export {
  CATEGORIES,
  type Catalog,
  type Category,
  DEFAULT_CATALOG_PATH,
  type Fee,
  type FeeSchedule,
  type Licensor,
  loadCatalog,
  type Product,
  parseCatalog,
} from './catalog.js';
export { ConfigError, type Env, parseEnv } from './env.js';
export { formatMicros, MICROS_PER_DOLLAR, type Micros, moneySchema, parseMicros } from './money.js';
export { packageRoot } from './paths.js';
