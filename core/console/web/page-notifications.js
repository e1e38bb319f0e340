import { useState } from 'preact/hooks'
import { get, put, qs } from './api.js'
import { dateTime } from './format.js'
import { ActionForm, Field, html, Loading, Status, Table, useLoad } from './ui.js'

const SAMPLE = {
  customer: { name: 'Ada Lovelace' },
  merchant: { name: 'Your store' },
  tenant: { name: 'Your store' },
  amount: '120.00',
  overdue_amount: '120.00',
  balance: '120.00',
  currency: 'USD',
  due_date: '2026-12-31',
  invoice: { number: 'INV-0042' },
  statement: { from: '2026-11-01', to: '2026-11-30' },
  dispute: { id: 'dsp_…', status: 'open' },
}

/** A preview of a mustache template with sample values (the service renders the real one). */
function preview(template) {
  return String(template ?? '').replace(/\{\{\{?\s*([\w.]+)\s*\}?\}\}/g, (_m, path) => {
    const v = path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), SAMPLE)
    return v === undefined ? `[${path}]` : String(v)
  })
}

export function Notifications({ can }) {
  const [status, setStatus] = useState('')
  const log = useLoad(() => get(`/v1/notifications${qs({ status, limit: 50 })}`), [status])
  const manage = can('notifications.manage')
  const channels = useLoad(() => (manage ? get('/v1/notification-channels') : Promise.resolve(null)))
  const templates = useLoad(() => get('/v1/notification-templates'))
  const [editing, setEditing] = useState(null)
  return html`<section aria-labelledby="h-notif">
    <h1 id="h-notif">Notifications</h1>
    <h2>Log</h2>
    <label for="notif-status">Status<select id="notif-status" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
      ${['', 'queued', 'sent', 'failed', 'suppressed'].map((s) => html`<option value=${s}>${s || 'Any'}</option>`)}
    </select></label>
    <${Loading} state=${log}>
      <${Table} rows=${log.data?.data} empty="No notification yet." columns=${[
        ['Created', (n) => dateTime(n.created)],
        ['Customer', (n) => html`<a href=${`#/customers/${n.customer}`}>${n.customer}</a>`],
        ['Template', (n) => n.template],
        ['Channel', (n) => n.channel ?? '—'],
        ['Status', (n) => html`<${Status} value=${n.status} />`],
        ['Error', (n) => n.last_error ?? n.suppressed_reason ?? ''],
      ]} />
    <//>
    ${manage ? html`<h2>Channels</h2><${Loading} state=${channels}>
      <${Table} rows=${channels.data?.data} empty="No channel: notifications cannot reach customers." columns=${[
        ['Name', (c) => c.name],
        ['Kind', (c) => c.kind],
        ['Plugin', (c) => c.plugin],
        ['Updated', (c) => dateTime(c.updated)],
      ]} />
    <//>` : ''}
    <h2>Templates</h2>
    <${Loading} state=${templates}>
      <${Table} rows=${templates.data?.data} rowKey=${(t) => `${t.key}:${t.language}`} onSelect=${(t) => setEditing(t)} columns=${[
        ['Template', (t) => t.key],
        ['Language', (t) => t.language],
        ['Source', (t) => t.source],
        ['Subject', (t) => t.subject],
      ]} />
    <//>
    ${editing ? html`<div class="template" key=${editing.key}>
      <h3>${editing.key} (${editing.language})</h3>
      <div class="two">
        <${ActionForm} label="Edit template" submit="Save template" action=${async (f) => {
          if (!manage) throw new Error('This key may not change templates.')
          const saved = await put(`/v1/notification-templates/${encodeURIComponent(editing.key)}`, { subject: f.get('subject'), body: f.get('body'), language: editing.language })
          setEditing(saved)
          await templates.reload()
          return 'Saved.'
        }}>
          <${Field} label="Subject" name="subject" value=${editing.subject} required onInput=${(e) => setEditing({ ...editing, subject: e.currentTarget.value })} />
          <${Field} label="Body" name="body" type="textarea" rows="8" value=${editing.body} required onInput=${(e) => setEditing({ ...editing, body: e.currentTarget.value })} />
        <//>
        <div class="preview" aria-live="polite"><h4>Preview (sample values)</h4><p><strong>${preview(editing.subject)}</strong></p><pre>${preview(editing.body)}</pre></div>
      </div>
    </div>` : ''}
  </section>`
}
