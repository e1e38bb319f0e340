import { useEffect, useState } from 'preact/hooks'
import { call, get } from './api.js'
import { dateTime } from './format.js'
import { ActionForm, Field, html, Status, Table } from './ui.js'

const TYPES = ['customers', 'opening_balances', 'invoices', 'payments']

/** A small CSV parser for the refused-rows file (quoted fields, doubled quotes). */
export function parseCsv(text) {
  const rows = []
  let row = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++
      else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') row.push(cell), (cell = '')
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++
      row.push(cell), rows.push(row), (row = []), (cell = '')
    } else cell += ch
  }
  if (cell || row.length) row.push(cell), rows.push(row)
  return rows
}

function Progress({ imp }) {
  const pct = Math.round(100 * (imp.progress ?? (imp.rows_total ? imp.rows_done / imp.rows_total : 0)))
  return html`<div class="progress">
    <label for=${`p-${imp.id}`}>${imp.filename}: <${Status} value=${imp.status} /> ${imp.rows_done}/${imp.rows_total ?? '?'} rows${imp.rows_failed ? `, ${imp.rows_failed} refused` : ''}</label>
    <progress id=${`p-${imp.id}`} max="100" value=${pct} aria-valuetext=${`${pct} %`}>${pct} %</progress>
    <span class="pct" aria-hidden="true">${pct} %</span>
  </div>`
}

const running = (imp) => imp.status === 'queued' || imp.status === 'validating' || imp.status === 'importing'

function ImportRun({ initial }) {
  const [imp, setImp] = useState(initial)
  const [refused, setRefused] = useState(null)
  // Live progress: poll GET /v1/imports/:id until the import finishes, then list the refused rows.
  useEffect(() => {
    let stopped = false
    ;(async () => {
      let cur = initial
      while (running(cur) && !stopped) {
        await new Promise((r) => setTimeout(r, 400))
        cur = await get(`/v1/imports/${cur.id}`)
        if (!stopped) setImp(cur)
      }
      if (cur.rows_failed && !stopped) setRefused(parseCsv((await call('GET', `/v1/imports/${cur.id}/errors`)).data))
    })().catch(() => undefined)
    return () => {
      stopped = true
    }
  }, [initial.id])
  return html`<article class="import">
    <${Progress} imp=${imp} />
    <p class="meta">${imp.type.replace(/_/g, ' ')}${imp.dry_run ? ' (dry run)' : ''} · started ${dateTime(imp.created)}${imp.error ? html` · <span class="error">${imp.error}</span>` : ''}</p>
    ${refused?.length > 1 ? html`<${Table} caption="Refused rows" rows=${refused.slice(1)} rowKey=${(r) => r.join('|')} columns=${refused[0].map((head, i) => [head, (r) => r[i]])} />` : ''}
  </article>`
}

export function Imports() {
  const [runs, setRuns] = useState([])
  return html`<section aria-labelledby="h-imports">
    <h1 id="h-imports">Imports</h1>
    <${ActionForm} label="Upload a CSV" submit="Upload" action=${async (f, form) => {
      const body = new FormData()
      body.set('type', f.get('type'))
      if (f.get('dry_run')) body.set('dry_run', 'true')
      const file = f.get('file')
      if (!file || !file.size) throw new Error('Choose a CSV file.')
      body.set('file', file, file.name)
      const res = await call('POST', '/v1/imports', body)
      setRuns((r) => [res.data, ...r.filter((x) => x.id !== res.data.id)])
      form.reset()
      return res.status === 200 ? 'This file was imported before: here is that import.' : 'Uploaded.'
    }}>
      <${Field} label="Type" name="type" options=${TYPES} />
      <${Field} label="CSV file" name="file" type="file" accept=".csv,text/csv" required />
      <${Field} label="Dry run (check only, write nothing)" name="dry_run" type="checkbox" />
    <//>
    ${runs.map((imp) => html`<${ImportRun} key=${imp.id} initial=${imp} />`)}
  </section>`
}
