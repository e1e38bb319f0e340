import t from 'tap'
import { idPattern, newId } from '../core/kernel/ids'

t.test('ids made one after another sort in that order, even within one millisecond', async (t) => {
  const ids = Array.from({ length: 5000 }, () => newId('txn'))
  t.ok(ids.every((id) => new RegExp(idPattern('txn')).test(id)), 'every id has the documented shape')
  t.equal(new Set(ids).size, ids.length, 'unique')
  t.same([...ids].sort(), ids, 'sorted in creation order')
})
