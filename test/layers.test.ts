import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

/**
 * The layer rules of ARCHITECTURE.md section 2, held by dependency-cruiser (.dependency-cruiser.cjs):
 * imports point down (kernel → contract → ledger → records → views → workflows → edges), records
 * never import each other, no file-level cycle, plugins see only their contract.
 */

const ROOT = path.join(__dirname, '..')
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs')
const BIN = path.join(ROOT, 'node_modules', '.bin', 'depcruise')

interface Violation {
  from: string
  to: string
  rule: { name: string }
}

async function cruise(cwd: string, roots: string[]): Promise<{ violations: Violation[]; modules: number }> {
  const { stdout } = await promisify(execFile)(BIN, [...roots, '--config', CONFIG, '--output-type', 'json'], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    // depcruise exits non-zero when it finds violations; its JSON is still on stdout.
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  )
  const out = JSON.parse(stdout)
  return { violations: out.summary.violations, modules: out.summary.totalCruised }
}

t.test('the project has no layer breach and no import cycle', async (t) => {
  const { violations, modules } = await cruise(ROOT, ['core', 'tenants', 'plugins'])
  t.ok(modules > 100, `cruised ${modules} modules`)
  t.same(
    violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
  )
})

t.test('the rules catch an upward import, a record importing a record, a cycle and an unknown folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recv-layers-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const files: Record<string, string> = {
    'tsconfig.json': '{"compilerOptions":{"module":"commonjs","target":"es2022"}}',
    'core/kernel/ids.ts': "import { post } from '../ledger/engine'\nexport const ids = post\n",
    'core/ledger/engine.ts': 'export const post = 1\n',
    'core/invoices/model.ts': "import { pay } from '../payments/model'\nexport const inv = pay\n",
    'core/payments/model.ts': 'export const pay = 1\n',
    'core/workflows/a.ts': "import { b } from './b'\nexport const a = () => b\n",
    'core/workflows/b.ts': "import { a } from './a'\nexport const b = () => a\n",
    'core/payments/helper.ts': "import { a } from '../workflows/a'\nexport const h = a\n",
    'core/gadgets/thing.ts': "import { pay } from '../payments/model'\nexport const g = pay\n",
  }
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true })
    fs.writeFileSync(path.join(dir, f), text)
  }
  const { violations } = await cruise(dir, ['core'])
  const found = new Set(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`))
  for (const expected of [
    'kernel-is-the-floor: core/kernel/ids.ts → core/ledger/engine.ts',
    'records-never-import-each-other: core/invoices/model.ts → core/payments/model.ts',
    'records-never-import-each-other: core/payments/helper.ts → core/workflows/a.ts',
    'no-circular: core/workflows/a.ts → core/workflows/b.ts',
    'known-layer: core/gadgets/thing.ts → core/payments/model.ts',
  ]) {
    t.ok(found.has(expected), expected)
  }
})
