import { useState } from 'preact/hooks'
import { get, qs } from './api.js'
import { dateTime } from './format.js'
import { ErrorBox, html, Loading, Table, useLoad } from './ui.js'

export function Audit({ can }) {
  const [filter, setFilter] = useState({ action: '', entity: '' })
  const [after, setAfter] = useState([])
  const list = useLoad(() => get(`/v1/audit-log${qs({ ...filter, limit: 50, starting_after: after[after.length - 1] })}`), [filter, after])
  const [verdict, setVerdict] = useState(null)
  const [error, setError] = useState(null)
  const verify = async () => {
    setError(null)
    setVerdict({ busy: true })
    try {
      setVerdict(await get('/v1/audit-log/verify'))
    } catch (err) {
      setVerdict(null)
      setError(err)
    }
  }
  const rows = list.data?.data ?? []
  return html`<section aria-labelledby="h-audit">
    <h1 id="h-audit">Audit log</h1>
    ${can('audit.verify') ? html`<p><button type="button" onClick=${verify} disabled=${verdict?.busy}>Verify the chain</button>
      ${verdict && !verdict.busy ? html` <span role="status" class=${verdict.ok ? 'ok' : 'error'}>${verdict.ok ? `Chain intact: ${verdict.checked} entries checked.` : `Chain broken at entry ${verdict.first_invalid_seq}: ${verdict.problem}`}</span>` : ''}</p>` : ''}
    <${ErrorBox} error=${error} />
    <form class="filters" role="search" onSubmit=${(e) => {
      e.preventDefault()
      const f = new FormData(e.currentTarget)
      setAfter([])
      setFilter({ action: f.get('action'), entity: f.get('entity') })
    }}>
      <label for="audit-action">Action<input id="audit-action" name="action" placeholder="customer.updated" /></label>
      <label for="audit-entity">Entity id<input id="audit-entity" name="entity" placeholder="cus_…" /></label>
      <button type="submit">Filter</button>
    </form>
    <${Loading} state=${list}>
      <${Table} rows=${rows} empty="No entry." columns=${[
        ['#', (r) => r.seq],
        ['When', (r) => html`<span class="num">${dateTime(r.created)}</span>`],
        ['Actor', (r) => html`<span class="id">${r.actor_user ?? r.actor ?? '—'}</span>`],
        ['Action', (r) => r.action],
        ['Entity', (r) => html`${r.entity_type.replace(/_/g, ' ')} <span class="id">${r.entity ?? ''}</span>`],
        ['Reason', (r) => r.reason ?? ''],
      ]} />
      <p class="pager">
        ${after.length ? html`<button type="button" class="secondary" onClick=${() => setAfter(after.slice(0, -1))}>Newer</button> ` : ''}
        ${list.data?.has_more ? html`<button type="button" class="secondary" onClick=${() => setAfter([...after, rows[rows.length - 1].id])}>Older</button>` : ''}
      </p>
    <//>
  </section>`
}
