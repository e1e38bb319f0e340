import { get, put } from './api.js'
import { ActionForm, html, Loading, Table, useLoad } from './ui.js'

/** A form field per property of the plugin's JSON schema (`configSchema`): strings, numbers, booleans, enums. */
function ConfigField({ name, schema, value, required }) {
  const id = `cfg-${name}`
  const label = html`${schema.title ?? name}${required ? ' *' : ''}${schema.description ? html`<small>${schema.description}</small>` : ''}`
  if (schema.enum) return html`<label for=${id}>${label}<select id=${id} name=${name} value=${value ?? schema.default ?? ''}>${schema.enum.map((v) => html`<option value=${v}>${v}</option>`)}</select></label>`
  if (schema.type === 'boolean') return html`<label class="check"><input id=${id} type="checkbox" name=${name} checked=${value ?? schema.default ?? false} /> ${label}</label>`
  if (schema.type === 'integer' || schema.type === 'number')
    return html`<label for=${id}>${label}<input id=${id} type="number" name=${name} step=${schema.type === 'integer' ? 1 : 'any'} min=${schema.minimum} max=${schema.maximum} value=${value ?? schema.default ?? ''} required=${required} /></label>`
  if (schema.type === 'string' || !schema.type)
    return html`<label for=${id}>${label}<input id=${id} type="text" name=${name} minlength=${schema.minLength} maxlength=${schema.maxLength} pattern=${schema.pattern} value=${value ?? schema.default ?? ''} required=${required} /></label>`
  return html`<label for=${id}>${label} (JSON)<textarea id=${id} name=${name} data-json="1" class="code">${value === undefined ? '' : JSON.stringify(value, null, 2)}</textarea></label>`
}

function readConfig(form, schema) {
  const out = {}
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    const el = form.elements[name]
    if (!el) continue
    if (s.type === 'boolean') out[name] = el.checked
    else if (el.value === '') continue
    else if (s.type === 'integer' || s.type === 'number') out[name] = Number(el.value)
    else if (el.dataset?.json) out[name] = JSON.parse(el.value)
    else out[name] = el.value
  }
  return out
}

export function Plugins({ can }) {
  const list = useLoad(() => get('/v1/plugins'))
  const manage = can('plugins.manage')
  return html`<section aria-labelledby="h-plugins">
    <h1 id="h-plugins">Plugins</h1>
    <${Loading} state=${list}>
      <${Table} rows=${list.data?.data} rowKey=${(p) => p.name} empty="No plugin installed." columns=${[
        ['Plugin', (p) => p.name],
        ['Version', (p) => p.version],
        ['Provides', (p) => p.provides.join(', ')],
        ['Enabled', (p) => (p.enabled ? 'yes' : 'no')],
      ]} />
      ${manage ? (list.data?.data ?? []).map((p) => html`<${ActionForm} key=${p.name} label=${`Configure ${p.name}`} submit="Save" class="plugin" action=${async (f, form) => {
        const schema = p.config_schema ?? {}
        const config = readConfig(form, schema)
        await put(`/v1/plugins/${encodeURIComponent(p.name)}`, { enabled: form.elements.enabled.checked, config })
        await list.reload()
        return 'Saved.'
      }}>
        <h2>${p.name}</h2>
        <label class="check"><input type="checkbox" name="enabled" checked=${p.enabled} /> Enabled</label>
        ${Object.entries(p.config_schema?.properties ?? {}).map(([name, s]) => html`<${ConfigField} name=${name} schema=${s} value=${p.config?.[name]} required=${(p.config_schema.required ?? []).includes(name)} />`)}
      <//>`) : ''}
    <//>
  </section>`
}
