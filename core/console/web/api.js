// The console's only way to the service: the public API (/v1/...) and its own session endpoints,
// with the session cookie (sent by the browser, never readable here) and the CSRF token on changes.
let csrfToken = null
let onSignedOut = () => {}

export function useSession(token, signedOut) {
  csrfToken = token
  if (signedOut) onSignedOut = signedOut
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `The service answered ${status}.`)
    this.status = status
    this.code = body?.error?.code ?? null
    this.param = body?.error?.param ?? null
  }
}

export async function call(method, path, body, headers = {}) {
  const h = { ...headers }
  if (method !== 'GET' && csrfToken) h['x-csrf-token'] = csrfToken
  let payload
  if (body instanceof FormData) payload = body
  else if (body !== undefined) {
    h['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  const res = await fetch(path, { method, headers: h, body: payload, credentials: 'same-origin' })
  const text = await res.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = text
  }
  if (res.status === 401 && !path.startsWith('/console/session')) onSignedOut()
  if (!res.ok) throw new ApiError(res.status, data)
  return { data, status: res.status, headers: res.headers }
}

export const get = async (path) => (await call('GET', path)).data
export const post = async (path, body = {}) => (await call('POST', path, body)).data
export const put = async (path, body, headers) => (await call('PUT', path, body, headers)).data
export const patch = async (path, body, headers) => (await call('PATCH', path, body, headers)).data
export const del = async (path, body) => (await call('DELETE', path, body)).data

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** Every page of a list (at most `max` rows). */
export async function all(path, params = {}, max = 1000) {
  const rows = []
  let after
  for (;;) {
    const page = await get(`${path}${qs({ ...params, limit: 100, starting_after: after })}`)
    rows.push(...page.data)
    if (!page.has_more || rows.length >= max) return rows
    after = page.data[page.data.length - 1].id
  }
}
