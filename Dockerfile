# Build stage: every dependency (TypeScript is a dev dependency), then `npm run build` (dist/).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Runtime: production dependencies and the build. tsx stays (a runtime dependency): the plugin
# worker threads load a partner's TypeScript plugin with it.
FROM node:20-slim
WORKDIR /app
# The fonts statement and invoice PDFs embed (core/reports/statement.ts): DejaVu Sans for Latin,
# Greek and Cyrillic, Droid Sans Fallback for CJK. The slim image has none.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-droid-fallback \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist

# Postgres and Redis are separate services here (see docker-compose.yml), not installed locally.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    SKIP_ENSURE_SERVICES=1
EXPOSE 3000
USER node

# Migrates, then runs the API and a worker in one process (what `npm start` runs after its build);
# `node dist/core/main.js api` / `worker` run them apart. SIGTERM shuts it down gracefully.
CMD ["node", "dist/core/main.js", "start"]
