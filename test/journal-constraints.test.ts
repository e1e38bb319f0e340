import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { withTenant } from '../core/kernel/db/tenant'
import { newId } from '../core/kernel/ids'
import type { Trx } from '../core/kernel/db/knex'

// The database refuses a bad journal whatever the code does: these go straight to the tables as the
// runtime role, inside the tenant transaction, bypassing the posting engine.
t.test('journal database checks', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const inTenant = <T>(fn: (trx: Trx) => Promise<T>) => withTenant(env.db, tenant.uuid, fn)

  const entry = (id: string, entry_date = '2026-11-02') => ({
    tenant_id: tenant.uuid, id, entry_date, event: 'adjustment', source_type: 'test', source_id: 'test', currency: 'usd',
  })
  const line = (entry_id: string, line_no: number, side: 'debit' | 'credit', amount: number, entry_date = '2026-11-02') => ({
    tenant_id: tenant.uuid, entry_id, line_no, entry_date, account_code: line_no === 1 ? '1100' : '4900', role: 'test', currency: 'usd',
    [side]: amount, [`tx_${side}`]: amount,
  })
  const entries = async () => Number((await env.admin('journal_entries').where({ tenant_id: tenant.uuid }).count('* as n'))[0].n)
  const lines = async () => Number((await env.admin('journal_lines').where({ tenant_id: tenant.uuid }).count('* as n'))[0].n)

  await t.test('a balanced entry, its lines written by a later statement of the same transaction', async (t) => {
    const id = newId('je')
    await inTenant(async (trx) => {
      await trx('journal_entries').insert(entry(id))
      await trx('journal_lines').insert([line(id, 1, 'debit', 500), line(id, 2, 'credit', 500)])
    })
    t.equal(await entries(), 1)
    t.equal(await lines(), 2)
  })

  await t.test('refused at commit: an entry without lines, or whose lines do not balance', async (t) => {
    await t.rejects(inTenant((trx) => trx('journal_entries').insert(entry(newId('je')))), /posting_rejected: journal entry .* does not balance \(lines 0/)
    const id = newId('je')
    await t.rejects(
      inTenant(async (trx) => {
        await trx('journal_entries').insert(entry(id))
        await trx('journal_lines').insert([line(id, 1, 'debit', 500), line(id, 2, 'credit', 499)])
      }),
      /posting_rejected: journal entry .* does not balance/,
    )
    // Balanced after the first statement, unbalanced by a second one: the check at commit sees both.
    const later = newId('je')
    await t.rejects(
      inTenant(async (trx) => {
        await trx('journal_entries').insert(entry(later))
        await trx('journal_lines').insert([line(later, 1, 'debit', 500), line(later, 2, 'credit', 500)])
        await trx('journal_lines').insert([line(later, 3, 'debit', 1)])
      }),
      /does not balance/,
    )
    t.equal(await entries(), 1, 'nothing written')
    t.equal(await lines(), 2)
  })

  await t.test('lines can neither be added to an entry of an earlier transaction nor name a missing entry', async (t) => {
    const [{ id: existing }] = await env.admin('journal_entries').where({ tenant_id: tenant.uuid }).select('id')
    await t.rejects(
      inTenant((trx) => trx('journal_lines').insert([line(existing, 3, 'debit', 100), line(existing, 4, 'credit', 100)])),
      /posting_rejected: lines can only be added to an entry in the transaction that creates it \(entry je_/,
    )
    await t.rejects(
      inTenant((trx) => trx('journal_lines').insert([line('je_missing', 1, 'debit', 100), line('je_missing', 2, 'credit', 100)])),
      /entry je_missing/,
    )
    t.equal(await lines(), 2, 'nothing written')
  })

  await t.test('entries and lines are append-only', async (t) => {
    // Refused by the role's grants or, failing those, by the append-only triggers.
    const refused = /append-only|permission denied/
    await t.rejects(inTenant((trx) => trx('journal_lines').where({ tenant_id: tenant.uuid }).update({ debit: 1 })), refused)
    await t.rejects(inTenant((trx) => trx('journal_entries').where({ tenant_id: tenant.uuid }).del()), refused)
    t.equal(await entries(), 1)
  })

  await t.test('one statement with entries in an open and a closed period writes none of them', async (t) => {
    const oct = await api.post('/v1/periods', { type: 'monthly', start_date: '2026-10-01', end_date: '2026-10-31' })
    t.equal(oct.statusCode, 201, oct.raw)
    t.equal((await api.post(`/v1/periods/${oct.body.id}/close`)).statusCode, 200)
    const open = newId('je')
    const closed = newId('je')
    await t.rejects(
      inTenant(async (trx) => {
        await trx('journal_entries').insert([entry(open, '2026-11-03'), entry(closed, '2026-10-15')])
        await trx('journal_lines').insert([line(open, 1, 'debit', 1, '2026-11-03'), line(open, 2, 'credit', 1, '2026-11-03')])
      }),
      /period_closed: 2026-10-15 falls in closed period/,
    )
    t.equal(await entries(), 1, 'nothing written')
  })
})
