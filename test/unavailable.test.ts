import t from 'tap'
import { isUnavailable, toAppError } from '../core/http/errors'

// Which failures read as "the database is unavailable right now" (503 service_unavailable, safe to
// retry with the same Idempotency-Key) and which are real errors (500): the faults test meets them at
// random moments of a Postgres restart; here each one is named.
t.test('a lost or refused database answers 503, anything else does not', async (t) => {
  const unavailable: [string, object][] = [
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['terminated', new Error('Connection terminated unexpectedly')],
    ['knex-prefixed', new Error('COMMIT; - Connection terminated unexpectedly')],
    ['a query on a client whose connection died', new Error('Client was closed and is not queryable')],
    ['knex-prefixed closed client', new Error('select 1 - Client was closed and is not queryable')],
    ['shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['starting up', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
    ['too many connections', Object.assign(new Error('sorry, too many clients already'), { code: '53300' })],
    ['pool timeout', Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' })],
  ]
  for (const [what, err] of unavailable) {
    t.ok(isUnavailable(err), what)
    t.equal(toAppError(err).code, 'service_unavailable', `${what}: 503`)
  }
  const real: [string, object][] = [
    ['a unique violation', Object.assign(new Error('duplicate key value'), { code: '23505', constraint: 'customers_pkey' })],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a syntax error in SQL', Object.assign(new Error('syntax error at or near "form"'), { code: '42601' })],
  ]
  for (const [what, err] of real) {
    t.notOk(isUnavailable(err), what)
    t.equal(toAppError(err).code, 'internal_error', `${what}: 500`)
  }
})
