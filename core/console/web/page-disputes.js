import { call, get, qs } from './api.js'
import { dateTime, money } from './format.js'
import { ActionForm, Field, html, Loading, Status, Table, useLoad } from './ui.js'

export function Disputes({ route, can }) {
  const list = useLoad(() => get(`/v1/disputes${qs({ limit: 50 })}`))
  return html`<section aria-labelledby="h-disputes">
    <h1 id="h-disputes">Disputes</h1>
    <${Loading} state=${list}>
      <${Table} rows=${list.data?.data} empty="No dispute." onSelect=${(d) => (location.hash = `#/disputes/${d.id}`)} columns=${[
        ['Dispute', (d) => d.id],
        ['Customer', (d) => d.customer],
        ['Type', (d) => d.type],
        ['Amount', (d) => html`<span class="num">${money(d.amount, d.currency)}</span>`],
        ['Status', (d) => html`<${Status} value=${d.status} />`],
        ['Opened', (d) => dateTime(d.created)],
      ]} />
    <//>
    ${route[0] ? html`<${Dispute} key=${route[0]} id=${route[0]} can=${can} />` : ''}
  </section>`
}

function Dispute({ id, can }) {
  const state = useLoad(() => get(`/v1/disputes/${id}`), [id])
  const d = state.data
  return html`<${Loading} state=${state}>${d && html`<div>
    <h2>${d.id} <${Status} value=${d.status} /></h2>
    <p>${d.reason ?? ''} ${d.reference ? `· ${d.reference}` : ''}</p>
    <${Table} caption="Evidence" rows=${d.evidence} empty="No evidence yet." columns=${[
      ['File', (e) => html`<a href=${`/v1/disputes/${d.id}/evidence/${e.id}`} target="_blank" rel="noopener">${e.filename}</a>`],
      ['Type', (e) => e.content_type],
      ['Size', (e) => `${e.size} bytes`],
      ['Uploaded', (e) => dateTime(e.created)],
    ]} />
    ${can('disputes.manage') && d.status !== 'won' && d.status !== 'lost' ? html`<${ActionForm} label="Upload evidence" submit="Upload" action=${async (f, form) => {
      const file = f.get('file')
      if (!file || !file.size) throw new Error('Choose a file.')
      const body = new FormData()
      body.set('file', file, file.name)
      await call('POST', `/v1/disputes/${d.id}/evidence`, body)
      form.reset()
      await state.reload()
      return 'Evidence uploaded.'
    }}>
      <${Field} label="Evidence (PDF, PNG, JPEG or text)" name="file" type="file" accept=".pdf,.png,.jpg,.jpeg,.txt" required />
    <//>` : ''}
  </div>`}<//>`
}
