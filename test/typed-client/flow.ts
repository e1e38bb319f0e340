/**
 * What an integrator writes against the generated types (test/typed-client.test.ts copies this file
 * next to the types that `openapi-typescript` makes from api-spec/openapi.json, compiles it with
 * `tsc --strict` and runs it against the service). No casts, no `any`, no non-null `!`: if the
 * document leaves a field optional or a body untyped, this stops compiling.
 */
import createClient from 'openapi-fetch'
import type { paths } from './api'
import type { FlowResult } from './result'

/** Answers with `data`, or throws with the documented error: `error.error.code` is typed as the catalogue. */
function ok<T>(res: { data?: T; error?: { error: { code: string; message: string } }; response: Response }): T {
  if (res.data === undefined) throw new Error(`${res.response.status} ${res.error?.error.code ?? ''}: ${res.error?.error.message ?? ''}`)
  return res.data
}

export async function runFlow(baseUrl: string, platformToken: string, run: string): Promise<FlowResult> {
  const platform = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${platformToken}` } })
  const tenant = ok(
    await platform.POST('/v1/tenants', {
      params: { header: { 'Idempotency-Key': `tenant-${run}` } },
      body: { name: 'Corner Bakery', base_currency: 'EUR', timezone: 'Europe/Berlin' },
    }),
  )

  const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${tenant.api_key}` } })
  const key = ok(await admin.POST('/v1/api-keys', { body: { name: 'Back office', role: 'accountant' } }))

  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key.secret}` } })
  const customer = ok(await api.POST('/v1/customers', { body: { name: 'Café Central', payment_terms_days: 14 } }))

  const issued: FlowResult['invoices'] = []
  for (const [description, quantity, unit_amount] of [
    ['Sourdough loaves', 40, 450],
    ['Croissants', 120, 180],
  ] as const) {
    const invoice = ok(
      await api.POST('/v1/invoices', {
        params: { header: { 'Idempotency-Key': `inv-${run}-${issued.length}` } },
        body: { customer: customer.id, issue_date: '2026-11-02', lines: [{ description, quantity, unit_amount, tax_rate: '0.07' }] },
      }),
    )
    issued.push({ id: invoice.id, number: invoice.number, total: invoice.total, outstanding: invoice.outstanding, status: invoice.status })
  }

  const [first, second] = issued
  const payment = ok(
    await api.POST('/v1/payments', {
      params: { header: { 'Idempotency-Key': `pay-${run}` } },
      body: {
        customer: customer.id,
        amount: first.total + 5000,
        method: 'bank_transfer',
        received_date: '2026-11-20',
        reference: 'SEPA 2026-11-20 Café Central',
        allocations: [
          { invoice: first.id, amount: first.total },
          { invoice: second.id, amount: 5000 },
        ],
      },
    }),
  )

  const invoices: FlowResult['invoices'] = []
  for (const { id } of issued) {
    const invoice = ok(await api.GET('/v1/invoices/{id}', { params: { path: { id } } }))
    invoices.push({ id: invoice.id, number: invoice.number, total: invoice.total, outstanding: invoice.outstanding, status: invoice.status })
  }

  const aging = ok(await api.GET('/v1/reports/aging', { params: { query: { as_of: '2026-11-30' } } }))
  const statement = ok(
    await api.GET('/v1/customers/{id}/statement', { params: { path: { id: customer.id }, query: { from: '2026-11-01', to: '2026-11-30' } } }),
  )

  return {
    tenantCurrency: tenant.base_currency,
    keyRole: key.role,
    customer: customer.id,
    invoices,
    payment: { id: payment.id, amount: payment.amount, unapplied: payment.unapplied_amount, allocated: payment.allocations.map((a) => a.amount) },
    agingTotal: aging.total,
    agingCustomers: aging.customers.map((c) => c.customer),
    statement: {
      opening: statement.opening_balance,
      closing: statement.closing_balance,
      rows: statement.transactions.map((t) => t.type),
      balances: statement.transactions.map((t) => t.running_balance),
    },
  }
}
