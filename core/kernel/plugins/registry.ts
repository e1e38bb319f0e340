import fs from 'node:fs'
import path from 'node:path'
import Ajv from 'ajv'
import { KIND_ENTRIES, LoadedPlugin, PLUGIN_KINDS, PluginManifest, SUPPORTED_API_VERSIONS } from './contract'
import type { ContainedPool } from './contained'

export const BUILTIN_PLUGIN_DIR = path.join(__dirname, '..', '..', '..', 'plugins')

const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'apiVersion', 'provides', 'configSchema'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$', maxLength: 64 },
    version: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+' },
    apiVersion: { type: 'integer' },
    provides: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...PLUGIN_KINDS] } },
    configSchema: { type: 'object' },
    main: { type: 'string', pattern: '^[A-Za-z0-9_./-]+$' },
  },
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true })
const validateManifest = ajv.compile(manifestSchema)

export interface Registry {
  plugins: Map<string, LoadedPlugin>
  /** Plugins that were found but refused, with the reason (also logged). */
  refused: { dir: string; reason: string }[]
  get(name: string): LoadedPlugin | undefined
  /** Validates a tenant config against the plugin's JSON schema (defaults applied). */
  validateConfig(name: string, config: unknown): { ok: true; config: Record<string, unknown> } | { ok: false; errors: string }
}

/** The manifest, checked on this thread (the entry module is not touched here). */
function readManifest(dir: string): { manifest: PluginManifest; entry: string } {
  const manifestPath = path.join(dir, 'manifest.json')
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as PluginManifest
  if (!validateManifest(manifest)) throw new Error(`invalid manifest: ${ajv.errorsText(validateManifest.errors)}`)
  if (!(SUPPORTED_API_VERSIONS as readonly number[]).includes(manifest.apiVersion)) {
    throw new Error(`unsupported apiVersion ${manifest.apiVersion} (supported: ${SUPPORTED_API_VERSIONS.join(', ')})`)
  }
  ajv.compile(manifest.configSchema) // the config schema itself must compile
  const main = manifest.main ?? (fs.existsSync(path.join(dir, 'index.ts')) ? 'index.ts' : 'index.js')
  const entry = path.resolve(dir, main)
  if (!entry.startsWith(path.resolve(dir) + path.sep)) throw new Error('entry module must be inside the plugin folder')
  if (!fs.existsSync(entry)) throw new Error(`entry module ${main} not found`)
  return { manifest, entry }
}

/**
 * Loads the entry module inside the containment pool (never on this thread: a partner's top-level
 * code runs under the same limits as its calls) and checks it exports what each kind it provides
 * needs (contract KIND_ENTRIES).
 */
async function loadOne(dir: string, pool: ContainedPool): Promise<LoadedPlugin> {
  const { manifest, entry } = readManifest(dir)
  let shape
  try {
    shape = await pool.describeModule(entry)
  } catch (err) {
    throw new Error(`entry module failed to load: ${(err as Error).message}`)
  }
  for (const kind of manifest.provides) {
    const needs = KIND_ENTRIES[kind]
    if (!needs) continue
    const found = shape[needs.export]
    const missing = needs.functions.filter((f) => found?.members?.[f] !== 'function')
    if (missing.length) throw new Error(`provides ${kind} but exports no ${needs.export} {${needs.functions.join(', ')}}`)
  }
  return { manifest, dir, entry }
}

/**
 * Discovers plugins in the built-in folder and every folder on PLUGIN_PATH (':'-separated). A
 * plugin whose manifest is invalid, whose apiVersion is unsupported or whose entry throws on load
 * is refused whole, with a log line; it is never half-loaded.
 */
export async function discoverPlugins(pluginPath: string, pool: ContainedPool, log: (msg: string) => void = (m) => console.warn(m)): Promise<Registry> {
  const roots = [BUILTIN_PLUGIN_DIR, ...pluginPath.split(':').filter(Boolean)]
  const plugins = new Map<string, LoadedPlugin>()
  const refused: Registry['refused'] = []
  const dirs: string[] = []
  for (const root of roots) {
    if (!fs.existsSync(root)) {
      log(`plugin path ${root} does not exist`)
      continue
    }
    const found = fs.existsSync(path.join(root, 'manifest.json'))
      ? [root]
      : fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(root, d.name))
    dirs.push(...found.sort().filter((dir) => fs.existsSync(path.join(dir, 'manifest.json'))))
  }
  const loaded = await Promise.allSettled(dirs.map((dir) => loadOne(dir, pool)))
  loaded.forEach((r, i) => {
    try {
      if (r.status === 'rejected') throw r.reason
      const p = r.value
      if (plugins.has(p.manifest.name)) throw new Error(`duplicate plugin name '${p.manifest.name}'`)
      plugins.set(p.manifest.name, p)
    } catch (err) {
      const reason = (err as Error).message
      refused.push({ dir: dirs[i], reason })
      log(`plugin refused: ${dirs[i]}: ${reason}`)
    }
  })
  const validators = new Map<string, ReturnType<Ajv['compile']>>()
  return {
    plugins,
    refused,
    get: (name) => plugins.get(name),
    validateConfig(name, config) {
      const p = plugins.get(name)
      if (!p) return { ok: false, errors: `unknown plugin '${name}'` }
      let v = validators.get(name)
      if (!v) validators.set(name, (v = ajv.compile(p.manifest.configSchema)))
      const copy = JSON.parse(JSON.stringify(config ?? {}))
      return v(copy) ? { ok: true, config: copy } : { ok: false, errors: ajv.errorsText(v.errors) }
    },
  }
}
