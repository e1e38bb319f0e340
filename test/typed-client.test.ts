import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import openapiTS, { astToString } from 'openapi-typescript'
import { SPEC_PATH } from '../scripts/generate-spec'
import { PLATFORM_TOKEN, setupTestEnv } from './helpers/app'
import type { FlowResult } from './typed-client/result'

const ROOT = path.join(__dirname, '..')
const FLOW = path.join(__dirname, 'typed-client', 'flow.ts')

/** What a strict integrator forbids itself in the flow: casts, `any`, non-null assertions. */
function escapes(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  const found: string[] = []
  if (/\bas\s+(?!const\b)[A-Za-z{[(]/.test(code)) found.push('a cast (`as`)')
  if (/\bany\b/.test(code)) found.push('`any`')
  if (/[\w)\]]!(?![=])/.test(code)) found.push('a non-null assertion (`!`)')
  if (/@ts-(ignore|expect-error|nocheck)/.test(source)) found.push('a @ts- directive')
  return found
}

t.test('a client generated from api-spec/openapi.json compiles under tsc --strict and runs against the service', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typed-client-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))

  // 1. Types from the committed document, as an integrator generates them.
  const types = astToString(await openapiTS(new URL(`file://${SPEC_PATH}`)))
  fs.writeFileSync(path.join(dir, 'api.ts'), types)
  fs.copyFileSync(FLOW, path.join(dir, 'flow.ts'))
  fs.copyFileSync(path.join(__dirname, 'typed-client', 'result.ts'), path.join(dir, 'result.ts'))
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        lib: ['ES2022', 'DOM'],
        types: [],
        noUncheckedIndexedAccess: false,
        // Checks our generated api.ts and flow.ts; only the libraries' own declarations are skipped.
        skipLibCheck: true,
      },
      files: ['flow.ts', 'api.ts', 'result.ts'],
    }),
  )

  t.strictSame(escapes(fs.readFileSync(FLOW, 'utf8')), [], 'the flow uses no casts, no any, no non-null assertions')

  // 2. tsc --strict: zero errors.
  let output = ''
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`
  }
  t.equal(output, '', 'tsc --strict compiles the flow against the generated types with zero errors')

  // 3. The same flow against the service on a real port.
  const env = await setupTestEnv(t)
  await env.app.listen({ port: 0, host: '127.0.0.1' })
  const address = env.app.server.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  // Loaded from the temp dir (flow.ts imports the generated ./api there); the root tsconfig leaves it out.
  const flow: { runFlow: (baseUrl: string, token: string, run: string) => Promise<FlowResult> } = await import(path.join(dir, 'flow.ts'))
  const result = await flow.runFlow(`http://127.0.0.1:${address.port}`, PLATFORM_TOKEN, `${process.pid}-${Date.now()}`)

  t.equal(result.tenantCurrency, 'eur', 'currencies are answered in lower case')
  t.equal(result.keyRole, 'accountant')
  t.match(result.customer, /^cus_/)
  // 40 × 4.50 + 7 % = 192.60; 120 × 1.80 + 7 % = 231.12
  t.strictSame(
    result.invoices.map((i) => [i.total, i.outstanding, i.status]),
    [
      [19260, 0, 'paid'],
      [23112, 18112, 'partially_paid'],
    ],
    'the payment settled the first invoice and part of the second',
  )
  t.strictSame(result.payment.allocated, [19260, 5000])
  t.equal(result.payment.unapplied, 0)
  t.equal(Number(result.agingTotal), 18112, 'aging: what remains open')
  t.strictSame(result.agingCustomers, [result.customer])
  t.equal(result.statement.opening, 0)
  t.equal(result.statement.closing, 18112, 'statement closing balance = invoices − payment')
  t.strictSame(result.statement.balances.at(-1), 18112)
  t.ok(result.statement.rows.length >= 3, `statement rows: ${result.statement.rows.join(', ')}`)
})
