/**
 * The house rules (../shared/STYLE.md, "The house"), checked by `npm run lint`:
 *   config ← platform ← audit ← features ← app
 * Imports point down only, never in a circle; another module is reached through its index.ts;
 * production code never imports test/. docs/architecture.md explains each folder.
 */
const FEATURES = '(ingest|entitlements|distribution|usage|billing|web)';
const MODULES = `(config|audit|${FEATURES.slice(1, -1)}|app|testing)`;

/** `to` paths a folder may not import: everything above it in the layering. */
const above = {
  config: ['^(platform|audit|ingest|entitlements|distribution|usage|billing|web|app)/'],
  platform: ['^(audit|ingest|entitlements|distribution|usage|billing|web|app)/'],
  audit: ['^(ingest|entitlements|distribution|usage|billing|web|app)/'],
};

/**
 * Among the features, the order they may lean on one another (anything not listed is forbidden):
 * ingest and entitlements stand alone; usage counts against entitlements; distribution carries
 * ingest's ticks to entitlements' decisions and emits usage's events; billing prices usage and
 * holds entitlements; web shows entitlements and usage.
 */
const featureMayImport = {
  ingest: [],
  entitlements: [],
  usage: ['entitlements'],
  distribution: ['ingest', 'entitlements', 'usage'],
  billing: ['entitlements', 'usage'],
  web: ['entitlements', 'usage'],
};

const TOOLS = '^(bin|bench|drill|test)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle makes a module impossible to read, test or move on its own.',
      from: {},
      to: { circular: true },
    },
    ...Object.entries(above).map(([layer, paths]) => ({
      name: `${layer}-imports-down-only`,
      severity: 'error',
      comment: `${layer}/ is below these layers: config ← platform ← audit ← features ← app.`,
      from: { path: `^${layer}/` },
      to: { path: paths },
    })),
    ...Object.entries(featureMayImport).map(([feature, allowed]) => ({
      name: `${feature}-feature-order`,
      severity: 'error',
      comment: `${feature}/ may import only ${allowed.length ? allowed.join(', ') : 'no other feature'} among the features.`,
      from: { path: `^${feature}/` },
      to: {
        path: `^${FEATURES}/`,
        pathNot: [`^${feature}/`, ...allowed.map((name) => `^${name}/`)],
      },
    })),
    {
      name: 'features-not-to-app',
      severity: 'error',
      comment: 'app/ is the composition root: only bin/, the bench and the tests import it.',
      from: { pathNot: '^(app|bin|bench|test)/' },
      to: { path: '^app/' },
    },
    {
      name: 'not-to-test',
      severity: 'error',
      comment: 'Production code never imports test/; shared fakes and helpers live in testing/.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'testing-only-from-tools',
      severity: 'error',
      comment: 'testing/ holds fakes for the tests, the drill and the bench, never for the product.',
      from: { pathNot: `${TOOLS}|^testing/` },
      to: { path: '^testing/' },
    },
    {
      name: 'tools-not-from-product',
      severity: 'error',
      comment: 'The bench and the drill measure the product; the product does not depend on them.',
      from: { pathNot: '^(bench|drill|test)/' },
      to: { path: '^(bench|drill)/' },
    },
    {
      name: 'only-through-index',
      severity: 'error',
      comment:
        'Another module is reached only through its index.ts (tests and the bench may reach inside to test or measure a part).',
      from: { path: `^${MODULES}/`, pathNot: '^(test|bench)/' },
      to: {
        path: `^${MODULES}/`,
        pathNot: ['^$1/', `^${MODULES}/index\\.ts$`],
      },
    },
    {
      name: 'platform-parts-through-index',
      severity: 'error',
      comment: 'The bus and the database are reached through platform/bus/index.ts and platform/db/index.ts.',
      from: { pathNot: '^(platform/(bus|db)/|test/|bench/)' },
      to: { path: '^platform/(bus|db)/', pathNot: '^platform/(bus|db)/index\\.ts$' },
    },
    {
      name: 'tools-import-product-through-index',
      severity: 'error',
      comment: 'bin/ and the drill use the product as any caller does: through module entry points.',
      from: { path: '^(bin|drill)/' },
      to: {
        path: `^${MODULES}/`,
        pathNot: `^${MODULES}/index\\.ts$`,
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|data)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
