FROM node:20-bookworm-slim

WORKDIR /app

# Manifests first so the dependency layer is reused until they change; `npm ci` runs the
# postinstall script that patches the Temporal SDK (scripts/patch-temporal-worker.mjs).
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci

COPY . .

# Code and dependencies stay root-owned, so the running process cannot
# modify them.
USER node

# Compose overrides this per service (worker, settlement simulator, migrate).
CMD ["npx", "tsx", "src/workers/main.ts"]
