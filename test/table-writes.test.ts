import t from 'tap'
import { defineTable, insertWrite, updateWrite } from '../core/kernel/db/table'

const things = defineTable<{ id: string; name: string; amount: number }>('things', { id: 'text', name: 'text', amount: 'bigint' }, ['id'])

t.test('one statement per column set, whatever order the rows spell their columns in', async (t) => {
  const w = insertWrite(things, 'tenant', [
    { id: 'a', name: 'x', amount: 1 },
    { amount: 2, id: 'b', name: 'y' },
  ])!
  t.match(w.ctes, /insert into things \(tenant_id, amount, id, name\)/, 'columns in sorted order')
  t.same(JSON.parse(Object.values(w.bindings).find((v) => typeof v === 'string' && v.startsWith('['))! as string), [
    { id: 'a', name: 'x', amount: 1 },
    { amount: 2, id: 'b', name: 'y' },
  ])
  t.equal(insertWrite(things, 'tenant', [{ name: 'y', id: 'b', amount: 2 }])!.ctes, w.ctes, 'the same text (one prepared statement) for the same set')
})

t.test('rows of one write must set the same columns; unknown columns are refused', async (t) => {
  t.throws(() => insertWrite(things, 'tenant', [{ id: 'a', name: 'x' }, { id: 'b', amount: 2 }]), /must set the same columns/, 'same count, another column')
  t.throws(() => insertWrite(things, 'tenant', [{ id: 'a', name: 'x' }, { id: 'b', name: 'y', amount: 2 }]), /must set the same columns/, 'one more')
  t.throws(() => insertWrite(things, 'tenant', [{ id: 'a', name: 'x', amount: 1 }, { id: 'b', name: 'y' }]), /must set the same columns/, 'one fewer')
  t.throws(() => insertWrite(things, 'tenant', [{ id: 'a', nam: 'x' } as never]), /no column nam/)
  t.throws(() => updateWrite(things, 'tenant', [{ id: 'a', name: 'x' }, { id: 'b', amount: 3 }]), /must set the same columns/, 'updates too')
  t.equal(insertWrite(things, 'tenant', []), null, 'nothing to write')
})
