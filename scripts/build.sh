#!/usr/bin/env bash
# `npm run build`: compiles the service (core, tenants, plugins, migrations) to JavaScript in dist/
# (or the folder given), with the files it reads at run time: the console's web assets and the
# built-in plugins' manifests (their entry module is the compiled index.js). `npm start` runs the
# build: a process that loads no TypeScript compiler takes less memory and starts faster.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
rm -rf "$out"
npx tsc -p tsconfig.build.json --outDir "$out"
mkdir -p "$out/core/console"
cp -r core/console/web "$out/core/console/web"
for manifest in plugins/*/manifest.json; do
  node -e '
    const [from, to] = process.argv.slice(1)
    const m = JSON.parse(require("fs").readFileSync(from, "utf8"))
    if (m.main) m.main = m.main.replace(/\.ts$/, ".js")
    require("fs").writeFileSync(to, JSON.stringify(m, null, 2) + "\n")
  ' "$manifest" "$out/$manifest"
done
