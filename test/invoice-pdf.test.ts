import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { setupTestEnv } from './helpers/app'

function pdfText(pdf: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inv-'))
  const file = path.join(dir, 'i.pdf')
  fs.writeFileSync(file, pdf)
  try {
    return execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

t.test('invoice PDF', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ name: 'Kraków Wholesale', base_currency: 'pln' })
  const api = env.api(tenant.key)
  const cus = (
    await api.post('/v1/customers', {
      name: 'Łódź Kebab — 山田商店',
      tax_id: 'PL7251234567',
      billing_address: { line1: 'ul. Piotrkowska 1', city: 'Łódź', postal_code: '90-001', country: 'PL' },
    })
  ).body
  const lines = Array.from({ length: 120 }, (_, i) => ({ description: i === 0 ? 'Kebab z baraniną — 羊肉 (large, with a description long enough to wrap in its column)' : `Item ${i + 1}`, quantity: (i % 3) + 1, unit_amount: 1250 + i, tax_rate: i % 2 ? '0.23' : '0.08' }))
  const inv = await api.post('/v1/invoices', { customer: cus.id, issue_date: '2026-11-02', due_date: '2026-11-30', lines, memo: 'Delivery to the back door.' })
  t.equal(inv.statusCode, 201, inv.raw)
  t.equal((await api.post('/v1/payments', { customer: cus.id, amount: 10000, method: 'cash', allocations: [{ invoice: inv.body.id, amount: 10000 }] })).statusCode, 201)
  const get = (id: string, key = tenant.key) => env.app.inject({ method: 'GET', url: `/v1/invoices/${id}/pdf`, headers: { authorization: `Bearer ${key}` } })

  const res = await get(inv.body.id)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/pdf')
  t.match(res.headers['content-disposition'], new RegExp(`invoice-${inv.body.number}\\.pdf`))
  const text = pdfText(res.rawPayload)
  const money = (n: number) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`
  for (const expected of ['Kraków Wholesale', 'Łódź Kebab — 山田商店', 'ul. Piotrkowska 1', 'PL7251234567', inv.body.number, '2026-11-02', '2026-11-30', 'Item 120', '23 %', 'Delivery to the back door.', 'Payment instructions']) {
    t.ok(text.includes(expected), `shows ${expected}`)
  }
  t.match(text, /\s8 ?%/, 'a tax rate as a percentage')
  t.ok(text.includes('羊肉'), 'a line in any script')
  t.match(text, new RegExp(`Total\\s+${money(inv.body.total)} PLN`), 'the total')
  t.match(text, new RegExp(`Amount due\\s+${money(inv.body.total - 10000)} PLN`), 'what is still due')
  const pages = [...text.matchAll(/Page (\d+) of (\d+)/g)]
  t.ok(pages.length >= 3, `${pages.length} pages`)
  t.ok(pages.every((m) => m[2] === String(pages.length)), 'every page says of M')
  t.equal(text.split(`${inv.body.number} · Łódź Kebab`).length - 1, pages.length, 'a header with the number on every page')
  if (process.env.INVOICE_PDF) fs.writeFileSync(process.env.INVOICE_PDF, res.rawPayload)

  const accountant = await env.key(tenant.key, 'accountant')
  const limited = pdfText((await get(inv.body.id, accountant.secret)).rawPayload)
  t.ok(limited.includes('Łódź Kebab'), 'the name is printed for any reader')
  t.notOk(limited.includes('Piotrkowska') || limited.includes('PL7251234567'), 'no address or tax id for a key that may not view personal data')

  const small = (await api.post('/v1/invoices', { customer: cus.id, lines: [{ description: 'Tea', quantity: 1, unit_amount: 500 }] })).body
  t.equal((await api.post(`/v1/invoices/${small.id}/void`, { reason: 'Entered twice' })).statusCode, 200)
  const voided = pdfText((await get(small.id)).rawPayload)
  t.match(voided, /VOID \(Entered twice\)/)
  t.notOk(voided.includes('Payment instructions'), 'nothing to pay on a void invoice')

  const other = await env.tenant({ name: 'Other' })
  t.equal((await get(inv.body.id, other.key)).statusCode, 404, "another tenant's invoice is not found")
  t.equal((await get('inv_00000000000000000000000000')).statusCode, 404)
  t.equal((await get('inv_nothere')).statusCode, 400, 'a malformed id')
  t.equal((await get('cus_wrongkind')).statusCode, 400)
  const auditor = await env.key(tenant.key, 'auditor')
  t.equal((await get(inv.body.id, auditor.secret)).statusCode, 200, 'an auditor reads invoices')
})
