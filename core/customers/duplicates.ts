import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'

/**
 * Likely duplicate customers (GET /v1/customers/duplicates): pairs of live customers (not deleted,
 * not merged) of one currency that share an e-mail (case-insensitive), a phone (digits only), a tax
 * id (letters and digits, case-insensitive) or an external id (case-insensitive), or whose names are
 * similar (pg_trgm trigram similarity of the lower-cased names ≥ SIMILAR_NAME, through the trigram
 * index). Set-based: one statement joins each key with itself. A key
 * limited to its own customers sees only pairs of its own (row-level security filters both sides).
 * Score: the weights of the reasons that hold, at most 100.
 */

export const DUPLICATE_WEIGHTS = { same_email: 40, same_tax_id: 40, same_external_id: 40, same_phone: 30, similar_name: 30 } as const
export type DuplicateReason = keyof typeof DUPLICATE_WEIGHTS

const KEYS: [DuplicateReason, string][] = [
  ['same_email', `lower(email)`],
  ['same_phone', `nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '')`],
  ['same_tax_id', `nullif(upper(regexp_replace(tax_id, '[^A-Za-z0-9]', '', 'g')), '')`],
  ['same_external_id', `lower(external_id)`],
]

/** Trigram similarity at or above which two names are `similar_name` ("Jon Smith" ~ "John Smith": 0.62). */
export const SIMILAR_NAME = 0.6

export async function duplicateCustomers(trx: Trx, ctx: RequestContext, limit: number) {
  const keyed = KEYS.map(
    ([reason, expr]) => `select '${reason}' as reason, id, currency, ${expr} as k from live where ${expr} is not null`,
  ).join('\n union all ')
  const weights = (Object.keys(DUPLICATE_WEIGHTS) as DuplicateReason[]).map((reason) => `when '${reason}' then ${DUPLICATE_WEIGHTS[reason]}`).join(' ')
  await trx.raw(`select set_config('pg_trgm.similarity_threshold', ?, true)`, [String(SIMILAR_NAME)])
  const { rows } = await trx.raw(
    `with live as (
       select id, currency, name, email, phone, tax_id, external_id from customers
        where tenant_id = :t and deleted_at is null and status <> 'merged'
     ), keyed as (${keyed}),
     pairs as (
       select a.id as a, b.id as b, a.reason from keyed a join keyed b on a.reason = b.reason and a.k = b.k and a.currency = b.currency and a.id < b.id
       union all
       select a.id, b.id, 'similar_name' from live a join live b on lower(a.name) % lower(b.name) and a.currency = b.currency and a.id < b.id
     )
     select a, b, array_agg(distinct reason order by reason) as reasons,
            least(100, sum(case reason ${weights} end))::int as score
       from (select distinct a, b, reason from pairs) p
      group by a, b
      order by score desc, a, b
      limit :limit`,
    { t: ctx.tenantId, limit },
  )
  return {
    object: 'list' as const,
    data: (rows as { a: string; b: string; reasons: DuplicateReason[]; score: number }[]).map((r) => ({ customers: [r.a, r.b], score: r.score, reasons: r.reasons })),
  }
}
