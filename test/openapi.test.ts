import fs from 'node:fs'
import t from 'tap'
import { buildSpec, SPEC_PATH, withOfflineApp } from '../scripts/generate-spec'

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const

/**
 * Every route the app serves, from fastify's route tree (`printRoutes` with full segments): each
 * line is a path segment nested under its parent, optionally followed by `(METHODS)`.
 */
function routesFromTree(tree: string): { method: string; url: string }[] {
  const stack: string[] = []
  const routes: { method: string; url: string }[] = []
  for (const line of tree.split('\n')) {
    const m = /^([│├└─\s]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1].length / 4
    stack.length = depth
    stack.push(m[2])
    for (const method of m[3]?.split(', ') ?? []) routes.push({ method: method.toLowerCase(), url: stack.join('') })
  }
  return routes
}

/** Which operations were added or removed, to say at a glance why the spec is stale. */
function pathDiff(generated: string, committed: string): string {
  const ops = (json: string) => {
    try {
      const paths: Record<string, object> = JSON.parse(json).paths ?? {}
      return new Set(Object.entries(paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)))
    } catch {
      return new Set<string>()
    }
  }
  const [now, before] = [ops(generated), ops(committed)]
  const added = [...now].filter((o) => !before.has(o))
  const removed = [...before].filter((o) => !now.has(o))
  return (added.length ? ` (new: ${added.join(', ')})` : '') + (removed.length ? ` (gone: ${removed.join(', ')})` : '')
}

t.test('api-spec/openapi.json is current', async (t) => {
  const generated = await buildSpec()
  const committed = fs.existsSync(SPEC_PATH) ? fs.readFileSync(SPEC_PATH, 'utf8') : ''
  // One assertion with a plain message: a JSON diff of the whole spec would bury the instruction.
  t.ok(generated === committed, `api-spec/openapi.json differs from the route schemas: run \`npm run spec\`${pathDiff(generated, committed)}`)
})

t.test('the spec documents every /v1 operation', async (t) => {
  const spec = JSON.parse(await buildSpec())
  t.match(spec.openapi, /^3\.\d+\.\d+$/, 'OpenAPI 3.x')
  t.ok(spec.info?.title && spec.info?.version, 'info')

  const paths = Object.keys(spec.paths)
  t.ok(paths.length > 0, 'has paths')
  t.strictSame(paths.filter((p) => !p.startsWith('/v1/')), [], 'only /v1 routes (ops and docs are hidden)')
  for (const [path, item] of Object.entries<Record<string, { responses?: Record<string, unknown> }>>(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (!op) continue
      t.ok(op.responses && Object.keys(op.responses).length > 0, `${method.toUpperCase()} ${path} declares responses`)
    }
  }

  // Compare with what the app actually routes.
  const routes = await withOfflineApp(async (app) => routesFromTree(app.printRoutes({ commonPrefix: false })))
  const served = routes.filter((r) => r.url.startsWith('/v1/') && r.method !== 'head')
  t.ok(served.length > 0, `found ${served.length} /v1 routes`)
  const missing = served
    .map((r) => ({ ...r, path: r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}') }))
    .filter((r) => !spec.paths[r.path]?.[r.method])
    .map((r) => `${r.method.toUpperCase()} ${r.url}`)
  t.strictSame(missing, [], 'every /v1 route is in the spec')
})
