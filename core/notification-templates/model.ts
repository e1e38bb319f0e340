import Mustache from 'mustache'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { page } from '../kernel/pagination'
import { recordAudit } from '../audit/service'
import { DEFAULT_TEMPLATES, INVOICE_PLACEHOLDERS, isBuiltInKey, MAX_BODY_CHARS, MAX_SUBJECT_CHARS, PLACEHOLDERS, TEMPLATE_KEYS } from './defaults'

/**
 * Notification templates (`notification_templates`, the only SQL on it): a tenant's own subject
 * and body per key and language over the built-in defaults. A template is checked when saved
 * (known placeholders only, no partials, balanced sections, size) so rendering never fails later.
 */

export const DEFAULT_LANGUAGE = 'en'

interface TemplateRow {
  key: string
  language: string
  subject: string | null
  body: string
  updated_by: string
  updated_at: Date
}

export interface TemplateText {
  key: string
  language: string
  subject: string | null
  body: string
  source: 'default' | 'tenant'
}

function view(t: TemplateText & { updated_at?: Date | null }) {
  return {
    object: 'notification_template' as const,
    key: t.key,
    language: t.language,
    subject: t.subject,
    body: t.body,
    source: t.source,
    built_in: isBuiltInKey(t.key),
    updated: t.updated_at ? t.updated_at.toISOString() : null,
  }
}

export type TemplateView = ReturnType<typeof view>

type Token = [string, string, number, number, Token[]?]

/** The first placeholder problem of a template text, or null. */
export function templateProblem(text: string): string | null {
  let tokens: Token[]
  try {
    tokens = Mustache.parse(text) as unknown as Token[]
  } catch (err) {
    return (err as Error).message
  }
  const walk = (list: Token[], inInvoices: boolean): string | null => {
    for (const [type, name, , , children] of list) {
      if (type === 'text' || type === '!') continue
      if (type === '>') return `partials are not allowed ({{> ${name}}})`
      if (type === '=') return 'changing the delimiters is not allowed'
      const known =
        (PLACEHOLDERS as readonly string[]).includes(name) ||
        /^data\.[A-Za-z0-9_]{1,64}(\.[A-Za-z0-9_]{1,64})*$/.test(name) ||
        (inInvoices && ((INVOICE_PLACEHOLDERS as readonly string[]).includes(name) || name === 'currency' || name === '.'))
      if (!known) return `unknown placeholder {{${name}}}`
      if ((type === '#' || type === '^') && children) {
        const inner = walk(children, inInvoices || (type === '#' && name === 'invoices'))
        if (inner) return inner
      }
    }
    return null
  }
  return walk(tokens, false)
}

export function assertTemplate(input: { subject?: string | null; body: string }): void {
  if (input.body.length > MAX_BODY_CHARS) throw new AppError('template_invalid', `The body is longer than ${MAX_BODY_CHARS} characters.`, { param: 'body' })
  if ((input.subject ?? '').length > MAX_SUBJECT_CHARS) throw new AppError('template_invalid', `The subject is longer than ${MAX_SUBJECT_CHARS} characters.`, { param: 'subject' })
  for (const field of ['subject', 'body'] as const) {
    const text = input[field]
    if (typeof text !== 'string') continue
    const problem = templateProblem(text)
    if (problem) throw new AppError('template_invalid', `Invalid ${field}: ${problem}. Placeholders: ${PLACEHOLDERS.join(', ')}, data.*; inside {{#invoices}}: ${INVOICE_PLACEHOLDERS.join(', ')}.`, { param: field })
  }
}

/** Renders a checked template: plain text, no HTML escaping (mails are text/plain, SMS and webhooks JSON). */
export function renderTemplate(text: string, data: object): string {
  return Mustache.render(text, data, {}, { escape: (v: unknown) => String(v) })
}

/** Every template the tenant has: each built-in key (its own text or the default), then its own keys. */
export async function listTemplates(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>) {
  const rows: TemplateRow[] = await trx('notification_templates').where({ tenant_id: ctx.tenantId }).orderBy(['key', 'language'])
  const out: TemplateView[] = []
  for (const key of TEMPLATE_KEYS) {
    const own = rows.filter((r) => r.key === key)
    if (!own.some((r) => r.language === DEFAULT_LANGUAGE)) out.push(view({ key, language: DEFAULT_LANGUAGE, ...DEFAULT_TEMPLATES[key], source: 'default' }))
    for (const r of own) out.push(view({ ...r, source: 'tenant' }))
  }
  for (const r of rows.filter((r) => !isBuiltInKey(r.key))) out.push(view({ ...r, source: 'tenant' }))
  return page(out, false)
}

/** The text to send for `key` in `language`: the tenant's, else its default-language one, else the built-in default. */
export async function resolveTemplate(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, key: string, language: string | null): Promise<TemplateText | null> {
  const langs = [...new Set([language ?? DEFAULT_LANGUAGE, DEFAULT_LANGUAGE])]
  const rows: TemplateRow[] = await trx('notification_templates').where({ tenant_id: ctx.tenantId, key }).whereIn('language', langs)
  for (const l of langs) {
    const r = rows.find((x) => x.language === l)
    if (r) return { ...r, source: 'tenant' }
  }
  return isBuiltInKey(key) ? { key, language: DEFAULT_LANGUAGE, ...DEFAULT_TEMPLATES[key], source: 'default' } : null
}

export async function assertTemplateExists(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, key: string): Promise<void> {
  if (!(await resolveTemplate(trx, ctx, key, null)) && !(await trx('notification_templates').where({ tenant_id: ctx.tenantId, key }).first('key'))) {
    throw notFound('notification template', key, 'template')
  }
}

export async function putTemplate(trx: Trx, ctx: RequestContext, key: string, input: { subject?: string | null; body: string; language?: string }): Promise<TemplateView> {
  assertTemplate(input)
  const language = input.language ?? DEFAULT_LANGUAGE
  const before = await resolveTemplate(trx, ctx, key, language)
  const [row]: TemplateRow[] = await trx('notification_templates')
    .insert({ tenant_id: ctx.tenantId, key, language, subject: input.subject ?? null, body: input.body, updated_by: ctx.keyId ?? ctx.role })
    .onConflict(['tenant_id', 'key', 'language'])
    .merge({ subject: input.subject ?? null, body: input.body, updated_by: ctx.keyId ?? ctx.role, updated_at: trx.fn.now() })
    .returning('*')
  const after = view({ ...row, source: 'tenant' })
  await recordAudit(trx, ctx, { action: 'notification_template.updated', entity_type: 'notification_template', entity_id: `${key}:${language}`, before, after })
  return after
}
