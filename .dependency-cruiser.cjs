/**
 * The layers of ARCHITECTURE.md section 2, as import rules. An import only ever points down:
 *
 *   kernel → contract (route schemas) → ledger (+ audit, outbox) → records → views → workflows → edges
 *
 * Records never import each other: a use case that touches two records is a workflow. Checked by
 * test/layers.test.ts (`npx depcruise core tenants plugins` prints the same verdict).
 */
const KERNEL = '^core/kernel/'
const CONTRACT = '^core/[^/]+/schemas\\.ts$'
const EDGE = '(^core/(http|jobs|events|ops)/|^core/main\\.ts$|/routes\\.ts$|^core/webhooks/delivery\\.ts$|^core/reconciliation/jobs\\.ts$|^core/imports/jobs\\.ts$|^core/retention/jobs\\.ts$|^core/(notifications|statement-runs)/jobs\\.ts$)'
const LEDGER = '^core/(ledger|audit|outbox|privacy)/'
const RECORD = '^(core/(customers|invoices|payments|allocations|credit-notes|refunds|write-offs|adjustments|sales|webhooks|reconciliation|plugins|periods|reversals|approvals|credit-limits|disputes|merges|imports|retention|credit-policy|notifications|communications|notification-templates|statement-runs|console)/|tenants/)'
const VIEW = '^core/(views|reports)/'
const WORKFLOW = '^(core/workflows/|tenants/provision\\.ts$)'
const PROJECT = '^(core|tenants|plugins)/'

const below = (...layers) => `(${layers.join('|')})`

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'An import cycle between files.', from: {}, to: { circular: true } },
    {
      name: 'kernel-is-the-floor',
      severity: 'error',
      comment: 'core/kernel imports nothing else of the project.',
      from: { path: KERNEL },
      to: { path: PROJECT, pathNot: KERNEL },
    },
    {
      name: 'contract-above-kernel',
      severity: 'error',
      comment: 'Route schemas (the API contract) import the kernel and other schemas only.',
      from: { path: CONTRACT },
      to: { path: PROJECT, pathNot: below(KERNEL, CONTRACT) },
    },
    {
      name: 'ledger-above-contract',
      severity: 'error',
      comment: 'The ledger, audit and outbox import the kernel, the contract and each other only.',
      from: { path: LEDGER, pathNot: `${EDGE}|${CONTRACT}` },
      to: { path: PROJECT, pathNot: `${below(KERNEL, CONTRACT, LEDGER)}`, },
    },
    {
      name: 'ledger-imports-no-edge',
      severity: 'error',
      from: { path: LEDGER, pathNot: `${EDGE}|${CONTRACT}` },
      to: { path: EDGE },
    },
    {
      name: 'records-never-import-each-other',
      severity: 'error',
      comment: 'A record imports the kernel, the contract, the ledger and its own folder; a use case of two records is a workflow.',
      from: { path: '^(core/[^/]+/|tenants/)', pathNot: `${EDGE}|${CONTRACT}|${KERNEL}|${LEDGER}|${VIEW}|${WORKFLOW}` },
      to: { path: PROJECT, pathNot: `${below(KERNEL, CONTRACT, LEDGER)}|^$1` },
    },
    {
      name: 'views-only-read-down',
      severity: 'error',
      comment: 'Read models import records and below, never a workflow or an edge.',
      from: { path: VIEW, pathNot: `${EDGE}|${CONTRACT}` },
      to: { path: `${WORKFLOW}|${EDGE}` },
    },
    {
      name: 'workflows-import-no-edge',
      severity: 'error',
      from: { path: WORKFLOW },
      to: { path: EDGE },
    },
    {
      name: 'plugins-use-the-contract-only',
      severity: 'error',
      comment: 'Built-in plugins code against the plugin contract, as partners do.',
      from: { path: '^plugins/' },
      to: { path: '^(core|tenants)/', pathNot: '^core/kernel/plugins/contract\\.ts$' },
    },
    {
      name: 'nothing-imports-a-plugin',
      severity: 'error',
      comment: 'Plugins are discovered and loaded by the registry, never imported.',
      from: { path: '^(core|tenants)/' },
      to: { path: '^plugins/' },
    },
    {
      name: 'known-layer',
      severity: 'error',
      comment: 'Every project file belongs to a layer: add a new folder to .dependency-cruiser.cjs.',
      from: { path: PROJECT, pathNot: `${KERNEL}|${CONTRACT}|${EDGE}|${LEDGER}|${RECORD}|${VIEW}|${WORKFLOW}|^plugins/` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^test/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
}
