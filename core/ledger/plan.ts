import { runWrites, type Trx, type Write } from '../kernel/db/knex'
import { insertWrite, updateWrite, type Table } from '../kernel/db/table'
import type { RequestContext } from '../kernel/context'
import { auditWrites, pendingAuditSnapshots, recordAudit, type AuditEntry } from '../audit/service'
import { eventWrites, type OutboxEvent } from '../outbox/outbox'
import { prepareSealing } from '../privacy/sealing'
import { AppError } from '../kernel/errors'
import { balanceWrites, buildEntry, entryWrites, type BuiltEntry, type PostingInput, type StagedBalanceChange } from './engine'
import { closedPeriodOf, evictOpenDates } from './periods'

/**
 * What a workflow will write, built in memory: lock → plan (every check, no writes) → one write.
 *
 * A plan collects journal entries, balance changes, rows to insert or update in record tables,
 * outbox events and audit rows. Several requests of one tenant planned in one transaction share
 * one plan, so a batch is written with one statement per table. Rows a plan has locked are held
 * here as their planned state (`hold`/`held`), so the next request of the batch sees what the
 * earlier ones will have written; an update of a row inserted by the same plan changes the insert.
 *
 * A request's part of a plan is a `Step`: a request that is refused after planning part of its work
 * rolls its step back (`discard`) and leaves the rest of the batch intact.
 */
export class Plan {
  private entries: BuiltEntry[] = []
  private balances: StagedBalanceChange[] = []
  private events: OutboxEvent[] = []
  private audits: { ctx: RequestContext; entry: AuditEntry }[] = []
  private announcements: { ctx: RequestContext; type: string; view: () => Promise<unknown> }[] = []
  /** table → key → row (inserts) or patch (updates), in first-seen order. */
  private inserts = new Map<Table<any>, Map<string, Record<string, unknown>>>()
  /** One definition per table name: an update must find the insert of the same table. */
  private tables = new Map<string, Table<any>>()
  private updates = new Map<Table<any>, Map<string, Record<string, unknown>>>()
  private touched = new Set<Table<any>>()
  private heldRows = new Map<string, Record<string, unknown>>()
  /** Held rows' keys by the customer they belong to (what one request can change). */
  private owned = new Map<string, string[]>()
  /** How to undo each change to the plan's own state since it began, newest last. */
  private undo: (() => void)[] = []
  /** Accounting date → status of the closed period it falls in, or null. */
  private periods = new Map<string, string | null>()

  constructor(readonly tenantId: string) {}

  /**
   * Remembers a locked row of customer `owner` as this plan sees it; the first one held for a key
   * wins. Workflows change held rows in place, so later requests see the planned state.
   */
  hold<T extends object>(table: string, id: string, row: T, owner: string): T {
    const k = `${table}:${id}`
    const held = this.heldRows.get(k)
    if (held) return held as T
    this.heldRows.set(k, row as Record<string, unknown>)
    let keys = this.owned.get(owner)
    if (!keys) this.owned.set(owner, (keys = []))
    keys.push(k)
    const list = keys
    this.undo.push(() => {
      this.heldRows.delete(k)
      list.pop()
    })
    return row
  }

  held<T>(table: string, id: string): T | undefined {
    return this.heldRows.get(`${table}:${id}`) as T | undefined
  }

  /** Every held row of a table. */
  heldAll<T>(table: string): T[] {
    return [...this.heldRows].filter(([k]) => k.startsWith(`${table}:`)).map(([, row]) => row as T)
  }

  /**
   * Builds a journal entry (see buildEntry) dated in an open period and adds it to the plan. The
   * period of each date is read once per plan.
   */
  async post(trx: Trx, ctx: RequestContext, input: PostingInput): Promise<BuiltEntry> {
    let period = this.periods.get(input.entry_date)
    if (period === undefined) this.periods.set(input.entry_date, (period = await closedPeriodOf(trx, this.tenantId, input.entry_date)))
    if (period) throw new AppError('period_closed', `${input.entry_date} falls in a ${period} period.`, { param: 'posting_date' })
    const entry = await buildEntry(trx, ctx, input)
    this.entries.push(entry)
    return entry
  }

  balance(b: StagedBalanceChange): void {
    this.balances.push(b)
  }

  event(ctx: RequestContext, type: string, object: unknown): void {
    this.events.push({ ctx, type, object })
  }

  audit(ctx: RequestContext, entry: AuditEntry): void {
    this.audits.push({ ctx, entry })
  }

  /**
   * An event whose object is the document as it reads back once the plan is written (a voided
   * invoice with its allocations, a cancelled sale): emitted right after the write, in order.
   */
  announce(ctx: RequestContext, type: string, view: () => Promise<unknown>): void {
    this.announcements.push({ ctx, type, view })
  }

  private keyOf(table: Table<any>, row: Record<string, unknown>): string {
    const known = this.tables.get(table.name)
    if (!known) this.tables.set(table.name, table)
    else if (known !== table) throw new Error(`plan: two definitions of table ${table.name}`)
    return table.key.map((k) => String(row[k])).join('\u0000')
  }

  /** A row to insert; returned so the plan can still change it (see update). */
  insert<Row>(table: Table<Row>, row: Partial<Row>): Partial<Row> {
    let rows = this.inserts.get(table)
    if (!rows) this.inserts.set(table, (rows = new Map()))
    const k = this.keyOf(table, row as Record<string, unknown>)
    if (rows.has(k)) throw new Error(`plan: ${table.name} ${k} inserted twice`)
    rows.set(k, row as Record<string, unknown>)
    const list = rows
    this.undo.push(() => list.delete(k))
    return row
  }

  /**
   * Sets columns of a row by key: merged into the row's insert when this plan inserts it, else into
   * one update per row (the last value of each column wins). `touch` sets updated_at too.
   */
  update<Row>(table: Table<Row>, key: Partial<Row>, patch: Partial<Row>, opts: { touch?: boolean } = {}): void {
    const k = this.keyOf(table, key as Record<string, unknown>)
    const inserted = this.inserts.get(table)?.get(k)
    if (inserted) {
      const before = restorer(inserted, Object.keys(patch))
      Object.assign(inserted, patch)
      this.undo.push(before)
      return
    }
    let rows = this.updates.get(table)
    if (!rows) this.updates.set(table, (rows = new Map()))
    const list = rows
    const before = rows.get(k)
    rows.set(k, { ...(before ?? key), ...patch })
    this.undo.push(() => (before ? list.set(k, before) : list.delete(k)))
    if (opts.touch && !this.touched.has(table)) {
      this.touched.add(table)
      this.undo.push(() => this.touched.delete(table))
    }
  }

  /**
   * A mark to roll a refused request's part of the plan back to. `owner`: the customer the request
   * posts for; only that customer's held rows can change, so only theirs are saved.
   */
  mark(owner?: string): Step {
    const keys = owner === undefined ? [...this.heldRows.keys()] : (this.owned.get(owner) ?? [])
    return {
      entries: this.entries.length,
      balances: this.balances.length,
      events: this.events.length,
      audits: this.audits.length,
      announcements: this.announcements.length,
      undo: this.undo.length,
      held: keys.map((k) => {
        const row = this.heldRows.get(k)!
        return { row, saved: { ...row } }
      }),
    }
  }

  /** Rolls the plan back to `step`, held rows' planned state included. */
  discard(step: Step): void {
    this.entries.length = step.entries
    this.balances.length = step.balances
    this.events.length = step.events
    this.audits.length = step.audits
    this.announcements.length = step.announcements
    while (this.undo.length > step.undo) this.undo.pop()!()
    for (const { row, saved } of step.held) {
      for (const key of Object.keys(row)) if (!(key in saved)) delete row[key]
      Object.assign(row, saved)
    }
  }

  get empty(): boolean {
    return !this.entries.length && !this.balances.length && !this.events.length && !this.audits.length && !this.announcements.length && !this.inserts.size && !this.updates.size
  }

  /** The plan as writes for runWrites: one statement per table (per column set). */
  private async writes(trx: Trx): Promise<(Write | null)[]> {
    // Sealing is one batched step: the keys of every customer whose personal data the plan's events
    // and the transaction's audit rows carry are resolved (created when missing) in one statement.
    await prepareSealing(trx, this.tenantId, [...this.events.map((e) => e.object), ...pendingAuditSnapshots(trx)])
    const out: (Write | null)[] = []
    if (this.entries.length) out.push(entryWrites({ tenantId: this.tenantId }, this.entries))
    for (const [table, rows] of this.inserts) for (const group of byColumns([...rows.values()])) out.push(insertWrite(table, this.tenantId, group))
    for (const [table, rows] of this.updates) {
      for (const group of byColumns([...rows.values()])) out.push(updateWrite(table, this.tenantId, group, { touch: this.touched.has(table) }))
    }
    out.push(balanceWrites({ tenantId: this.tenantId }, this.balances))
    out.push((await eventWrites(trx, this.events)).write)
    out.push(await auditWrites(trx))
    return out
  }

  /**
   * Writes the whole plan in one statement, with the transaction's audit rows recorded so far (in
   * the transaction's one audit lane).
   */
  async write(trx: Trx): Promise<void> {
    for (const a of this.audits) await recordAudit(trx, a.ctx, a.entry)
    try {
      await runWrites(trx, await this.writes(trx))
    } catch (err) {
      // A period closed by another process since its dates were cached open (see closedPeriodOf).
      if ((err as { constraint?: string }).constraint === 'period_closed') evictOpenDates(this.tenantId)
      throw err
    }
    if (!this.announcements.length) return
    const events: OutboxEvent[] = []
    for (const a of this.announcements) events.push({ ctx: a.ctx, type: a.type, object: await a.view() })
    await runWrites(trx, [(await eventWrites(trx, events)).write])
  }
}

export interface Step {
  entries: number
  balances: number
  events: number
  audits: number
  announcements: number
  undo: number
  held: { row: Record<string, unknown>; saved: Record<string, unknown> }[]
}

/** Undoes a later Object.assign of `keys` onto `row`. */
function restorer(row: Record<string, unknown>, keys: string[]): () => void {
  const saved = keys.map((k) => [k, k in row, row[k]] as const)
  return () => {
    for (const [k, had, v] of saved) {
      if (had) row[k] = v
      else delete row[k]
    }
  }
}

/** Rows grouped by the set of columns they set (one statement per group). */
function byColumns(rows: Record<string, unknown>[]): Record<string, unknown>[][] {
  const groups = new Map<string, Record<string, unknown>[]>()
  for (const r of rows) {
    const k = Object.keys(r).join(',')
    const g = groups.get(k)
    if (g) g.push(r)
    else groups.set(k, [r])
  }
  return [...groups.values()]
}
