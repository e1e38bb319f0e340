import { useState } from 'preact/hooks'
import { get, post } from './api.js'
import { date, dateTime } from './format.js'
import { ActionForm, ErrorBox, Field, html, Loading, Status, Table, useLoad } from './ui.js'

export function Periods({ can }) {
  const list = useLoad(() => get('/v1/periods?limit=100'))
  const [error, setError] = useState(null)
  const act = async (p, verb) => {
    setError(null)
    try {
      await post(`/v1/periods/${p.id}/${verb}`, {})
      await list.reload()
    } catch (err) {
      setError(err)
    }
  }
  const button = (p, verb, perm, when) => (can(perm) && when ? html`<button type="button" class="secondary" onClick=${() => act(p, verb)}>${verb[0].toUpperCase() + verb.slice(1)}</button> ` : '')
  return html`<section aria-labelledby="h-periods">
    <h1 id="h-periods">Periods</h1>
    <${ErrorBox} error=${error} />
    <${Loading} state=${list}>
      <${Table} rows=${list.data?.data} empty="No period defined." columns=${[
        ['Period', (p) => `${date(p.start_date)} – ${date(p.end_date)}`],
        ['Type', (p) => p.type],
        ['Status', (p) => html`<${Status} value=${p.status} />`],
        ['Closed', (p) => (p.closed_at ? `${dateTime(p.closed_at)} by ${p.closed_by}` : '—')],
        ['Actions', (p) => html`${button(p, 'close', 'periods.close', p.status === 'open')}${button(p, 'reopen', 'periods.reopen', p.status === 'closed')}${button(p, 'lock', 'periods.lock', p.status === 'closed')}`],
      ]} />
    <//>
    ${can('periods.manage') ? html`<${ActionForm} label="New period" submit="Create period" action=${async (f) => {
      await post('/v1/periods', { start_date: f.get('start'), end_date: f.get('end'), type: f.get('type') })
      await list.reload()
      return 'Period created.'
    }}>
      <${Field} label="Start" name="start" type="date" required />
      <${Field} label="End" name="end" type="date" required />
      <${Field} label="Type" name="type" options=${['monthly', 'quarterly', 'yearly']} />
    <//>` : ''}
  </section>`
}
