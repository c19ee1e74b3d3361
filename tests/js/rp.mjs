// A relying party built on the certified openid-client library, driven by the Python tests.
// Each call is one step; state passes through JSON on stdin/stdout so the browser part can
// happen in between (Playwright signs in through the real pages).
//
//   node rp.mjs start   {issuer, client_id, client_secret, redirect_uri, scope, acr_values?}
//   node rp.mjs finish  {..., callback_url, code_verifier, state, nonce}
//   node rp.mjs service {issuer, client_id, client_secret, scope}
import * as client from 'openid-client';

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function configure(input) {
  const config = await client.discovery(
    new URL(input.issuer),
    input.client_id,
    undefined,
    client.ClientSecretBasic(input.client_secret),
    { execute: [client.allowInsecureRequests] }, // the test server is plain HTTP on loopback
  );
  // Verify ID token signatures against the JWKS too, not only trust the TLS channel.
  client.enableNonRepudiationChecks(config);
  return config;
}

async function start(input) {
  const config = await configure(input);
  const code_verifier = client.randomPKCECodeVerifier();
  const code_challenge = await client.calculatePKCECodeChallenge(code_verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  if (input.acr_values) params.acr_values = input.acr_values;
  const url = client.buildAuthorizationUrl(config, params);
  return {
    url: url.href,
    code_verifier,
    state,
    nonce,
    server: config.serverMetadata(),
  };
}

async function finish(input) {
  const config = await configure(input);
  const tokens = await client.authorizationCodeGrant(config, new URL(input.callback_url), {
    pkceCodeVerifier: input.code_verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString());
  return {
    id_token_header: header,
    claims,
    userinfo,
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    has_refresh_token: Boolean(tokens.refresh_token),
  };
}

async function service(input) {
  const config = await configure(input);
  const tokens = await client.clientCredentialsGrant(config, { scope: input.scope });
  const introspection = await client.tokenIntrospection(config, tokens.access_token);
  await client.tokenRevocation(config, tokens.access_token);
  const afterRevocation = await client.tokenIntrospection(config, tokens.access_token);
  const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0], 'base64url').toString());
  return {
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    access_token_header: header,
    introspection,
    after_revocation: afterRevocation,
  };
}

const steps = { start, finish, service };
const step = steps[process.argv[2]];
if (!step) {
  process.stderr.write(`usage: node rp.mjs ${Object.keys(steps).join('|')} < input.json\n`);
  process.exit(2);
}
try {
  const output = await step(await readInput());
  process.stdout.write(JSON.stringify(output));
} catch (err) {
  // Name the library's error code so a failing test says what openid-client rejected.
  process.stdout.write(JSON.stringify({ error: err.code ?? err.name, message: err.message,
    cause: err.cause ? String(err.cause.message ?? err.cause) : null }));
  process.exit(1);
}
