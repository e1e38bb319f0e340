FROM node:20-slim
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. tsx (a runtime dependency) runs
# the TypeScript directly: there is no build step, and the dev dependencies are for tests.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# Postgres and Redis are separate services here (see docker-compose.yml), not installed locally.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    SKIP_ENSURE_SERVICES=1
EXPOSE 3000
USER node

# Migrates, then runs the API and a worker in one process; `npm run api` / `npm run worker` run
# them apart. npm forwards SIGTERM, and the app shuts down gracefully.
CMD ["npm", "start"]
