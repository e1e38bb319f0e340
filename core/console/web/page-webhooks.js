import { useState } from 'preact/hooks'
import { get, post, qs } from './api.js'
import { dateTime } from './format.js'
import { ActionForm, ErrorBox, Field, html, Loading, Status, Table, useLoad } from './ui.js'

export function Webhooks({ route, can }) {
  const list = useLoad(() => get('/v1/webhook-endpoints?limit=100'))
  return html`<section aria-labelledby="h-webhooks">
    <h1 id="h-webhooks">Webhooks</h1>
    <${Loading} state=${list}>
      <${Table} caption="Endpoints" rows=${list.data?.data} empty="No endpoint." onSelect=${(e) => (location.hash = `#/webhooks/${e.id}`)} columns=${[
        ['URL', (e) => e.url],
        ['Events', (e) => e.events.join(', ')],
        ['Status', (e) => html`<${Status} value=${e.status} />`],
        ['Created', (e) => dateTime(e.created)],
      ]} />
    <//>
    ${can('webhooks.manage') ? html`<${ActionForm} label="New endpoint" submit="Add endpoint" action=${async (f, form) => {
      const events = String(f.get('events')).split(/[\s,]+/).filter(Boolean)
      const created = await post('/v1/webhook-endpoints', { url: f.get('url'), events, ...(f.get('description') ? { description: f.get('description') } : {}) })
      form.reset()
      await list.reload()
      return `Endpoint added. Its signing secret (shown once): ${created.secret ?? '—'}`
    }}>
      <${Field} label="URL" name="url" type="url" required placeholder="https://example.com/hooks" />
      <${Field} label="Events (comma-separated, * for all)" name="events" required value="*" />
      <${Field} label="Description" name="description" />
    <//>` : ''}
    ${route[0] ? html`<${Deliveries} key=${route[0]} id=${route[0]} can=${can} />` : ''}
  </section>`
}

function Deliveries({ id, can }) {
  const [status, setStatus] = useState('')
  const list = useLoad(() => get(`/v1/webhook-endpoints/${id}/deliveries${qs({ status, limit: 50 })}`), [id, status])
  const [error, setError] = useState(null)
  const [note, setNote] = useState(null)
  const redeliver = async (d) => {
    setError(null)
    try {
      await post(`/v1/events/${d.event}/redeliver`, {})
      setNote(`Event ${d.event} queued for redelivery.`)
      await list.reload()
    } catch (err) {
      setError(err)
    }
  }
  return html`<div>
    <h2>Deliveries of ${id}</h2>
    <label for="dl-status">Status<select id="dl-status" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
      ${['', 'pending', 'succeeded', 'failed'].map((s) => html`<option value=${s}>${s || 'Any'}</option>`)}
    </select></label>
    <${ErrorBox} error=${error} />
    ${note ? html`<p class="ok" role="status">${note}</p>` : ''}
    <${Loading} state=${list}>
      <${Table} rows=${list.data?.data} empty="No delivery." columns=${[
        ['Event', (d) => `${d.event_type} (${d.event})`],
        ['Status', (d) => html`<${Status} value=${d.status} />`],
        ['Attempts', (d) => d.attempt_count],
        ['Last answer', (d) => d.last_status_code ?? d.last_error ?? '—'],
        ['Delivered', (d) => dateTime(d.delivered_at)],
        ...(can('webhooks.manage') ? [['', (d) => html`<button type="button" class="secondary" onClick=${() => redeliver(d)}>Redeliver</button>`]] : []),
      ]} />
    <//>
  </div>`
}
