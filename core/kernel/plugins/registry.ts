import fs from 'node:fs'
import path from 'node:path'
import Ajv from 'ajv'
import { LoadedPlugin, PLUGIN_KINDS, PluginManifest, PluginModule, SUPPORTED_API_VERSIONS } from './contract'

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

function loadOne(dir: string): LoadedPlugin {
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
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(entry) as PluginModule
  if (manifest.provides.includes('chart-of-accounts')) {
    const coa = module.chartOfAccounts
    if (!coa || typeof coa.accounts !== 'function' || typeof coa.map !== 'function') {
      throw new Error('provides chart-of-accounts but exports no chartOfAccounts {accounts, map}')
    }
  }
  if (manifest.provides.includes('credit-policy')) {
    const cp = module.creditPolicy
    if (!cp || typeof cp.rules !== 'function') throw new Error('provides credit-policy but exports no creditPolicy {rules}')
  }
  return { manifest, dir, module }
}

/**
 * Discovers plugins in the built-in folder and every folder on PLUGIN_PATH (':'-separated). A
 * plugin whose manifest is invalid, whose apiVersion is unsupported or whose entry throws on load
 * is refused whole, with a log line; it is never half-loaded.
 */
export function discoverPlugins(pluginPath: string, log: (msg: string) => void = (m) => console.warn(m)): Registry {
  const roots = [BUILTIN_PLUGIN_DIR, ...pluginPath.split(':').filter(Boolean)]
  const plugins = new Map<string, LoadedPlugin>()
  const refused: Registry['refused'] = []
  for (const root of roots) {
    if (!fs.existsSync(root)) {
      log(`plugin path ${root} does not exist`)
      continue
    }
    const dirs = fs.existsSync(path.join(root, 'manifest.json'))
      ? [root]
      : fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(root, d.name))
    for (const dir of dirs.sort()) {
      if (!fs.existsSync(path.join(dir, 'manifest.json'))) continue
      try {
        const p = loadOne(dir)
        if (plugins.has(p.manifest.name)) throw new Error(`duplicate plugin name '${p.manifest.name}'`)
        plugins.set(p.manifest.name, p)
      } catch (err) {
        const reason = (err as Error).message
        refused.push({ dir, reason })
        log(`plugin refused: ${dir}: ${reason}`)
      }
    }
  }
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

let current: Registry | null = null
let currentPath: string | null = null

/** Discovers plugins once per PLUGIN_PATH; called by the API and worker at startup. */
export function initPlugins(pluginPath: string, log?: (msg: string) => void): Registry {
  if (!current || currentPath !== pluginPath) {
    current = discoverPlugins(pluginPath, log)
    currentPath = pluginPath
  }
  return current
}

/** The process-wide registry (discovered with PLUGIN_PATH from the environment if not yet). */
export function pluginRegistry(): Registry {
  return current ?? initPlugins(process.env.PLUGIN_PATH ?? '')
}
