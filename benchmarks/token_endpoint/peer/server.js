// Peer OpenID provider for the token endpoint benchmark.
//
// Configures the `oidc-provider` npm package as close as it allows to what the
// Kent Card identity service does at POST /oauth/token for client_credentials:
// one confidential client (client_secret_basic), RFC 9068 style JWT access
// tokens signed with an ES256 key, one audience, one scope, TTL 600 s.
//
// Settings come from the environment so that run.py owns them:
//   PEER_PORT (default 3000), PEER_ISSUER, PEER_CLIENT_ID, PEER_CLIENT_SECRET,
//   PEER_SCOPE, PEER_AUDIENCE, PEER_WORKERS (default 1: single process, its
//   normal deployment; >1 forks that many processes sharing the port).
//
// Prints "READY <port>" on stdout once listening, so the harness can wait on it.

import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const host = '127.0.0.1';
const port = Number.parseInt(process.env.PEER_PORT ?? '3000', 10);
const issuer = process.env.PEER_ISSUER ?? `http://${host}:${port}`;
const clientId = process.env.PEER_CLIENT_ID ?? 'bench';
const clientSecret = process.env.PEER_CLIENT_SECRET ?? 'bench-secret-change-me';
const scope = process.env.PEER_SCOPE ?? 'entitlements:read';
const audience = process.env.PEER_AUDIENCE ?? 'urn:kentcard:api';
const workers = Math.max(1, Number.parseInt(process.env.PEER_WORKERS ?? '1', 10));
const tokenTtlSeconds = 600;

/** One ES256 signing key; in cluster mode the primary makes it so all workers sign alike. */
function signingJwk() {
  if (process.env.PEER_SIGNING_JWK) {
    return JSON.parse(process.env.PEER_SIGNING_JWK);
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'ES256' };
}

function start() {
  const resourceServer = {
    audience,
    scope,
    accessTokenTTL: tokenTtlSeconds,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope,
      },
    ],
    scopes: ['openid', scope],
    // The keystore holds only the ES256 key, so client defaults must name it.
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [signingJwk()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) {
            throw new Provider.errors.InvalidTarget();
          }
          return resourceServer;
        },
      },
    },
    ttl: {
      ClientCredentials: tokenTtlSeconds,
    },
    routes: {
      token: '/oauth/token',
    },
  });

  const server = provider.listen(port, host, () => {
    if (!cluster.isWorker || cluster.worker.id === 1) {
      process.stdout.write(`READY ${port} pid=${process.pid} workers=${workers}\n`);
    }
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (workers > 1 && cluster.isPrimary) {
  process.env.PEER_SIGNING_JWK = JSON.stringify(signingJwk());
  for (let i = 0; i < workers; i += 1) {
    cluster.fork();
  }
  const stopAll = () => {
    for (const worker of Object.values(cluster.workers ?? {})) {
      worker?.kill('SIGTERM');
    }
    process.exit(0);
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
} else {
  start();
}
