// A real OpenID provider for Gatehouse's SSO tests: panva's certified `oidc-provider` on a
// random loopback port. Usage: node provider.mjs CONFIG.json
//   CONFIG: { "clients": [{ "client_id", "client_secret", "redirect_uris": [..] }],
//             "users": "/path/users.json" }   users.json: { "<sub>": { "email", "email_verified",
//             "groups": [..], "amr": [..] } }, re-read at every sign-in so a test can change claims.
// Prints one line, {"issuer": "http://127.0.0.1:PORT"}, once it listens.
// The sign-in page (/interaction/:uid) has a "login" field (any user in users.json), a
// "Sign in" and a "Deny" button. POST /test/tamper {"aud": "x"} or {"nonce": "x"} makes the
// next ID token carry that claim (validly signed with the provider's key), so the relying
// party's audience and nonce checks can be exercised against a real token.
// POST /test/rotate restarts the provider on the same port with a new signing key (new
// `kid`; its sessions and codes are gone, as after a real restart). GET /test/counts says how
// many times discovery, the JWKS, the token and the userinfo endpoints were asked.
// CONFIG "conform": true puts scope claims (email, groups) only in the userinfo answer, not
// in the ID token (oidc-provider's conformIdTokenClaims), for the relying party's userinfo read.
import http from 'node:http';
import fs from 'node:fs';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, SignJWT, decodeJwt } from 'jose';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const users = () => JSON.parse(fs.readFileSync(cfg.users, 'utf8'));
let tamper = null;

const server = http.createServer();
// Longer than any pause of a test's client between requests on one connection.
server.keepAliveTimeout = 120000;
process.stdout.on('error', () => {});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const counts = { discovery: 0, jwks: 0, token: 0, userinfo: 0 };
let generation = 0;
let privateKey;
let jwk;
let provider;
let callback;

async function boot() {
  generation += 1;
  ({ privateKey } = await generateKeyPair('RS256', { extractable: true }));
  jwk = { ...(await exportJWK(privateKey)), kid: `test-key-${generation}`, alg: 'RS256', use: 'sig' };
  provider = makeProvider();
  provider.use(tamperer);
  callback = provider.callback();
}

const makeProvider = () => new Provider(issuer, {
  clients: cfg.clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  })),
  jwks: { keys: [jwk] },
  claims: {
    acr: null,
    amr: null,
    auth_time: null,
    iss: null,
    sid: null,
    // As many providers do, the authentication methods and context go with every ID token.
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: Boolean(cfg.conform),
  acrValues: ['urn:gatehouse:test:pwd', 'urn:gatehouse:test:mfa'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['gatehouse-test-only'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => {
    const u = users()[sub];
    if (!u) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...u }) };
  },
});

// The token response's ID token, re-signed with a claim changed, when a test asked for it.
const tamperer = async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    // The claims of each ID token issued, for a failing test's provider.log.
    process.stderr.write(`id_token ${JSON.stringify(decodeJwt(ctx.body.id_token))}\n`);
  }
  if (ctx.path === '/token' && tamper && ctx.body && ctx.body.id_token) {
    const claims = { ...decodeJwt(ctx.body.id_token), ...tamper };
    tamper = null;
    ctx.body = {
      ...ctx.body,
      id_token: await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
        .sign(privateKey),
    };
  }
};

const page = (uid, message) => `<!doctype html><html lang="en"><head><title>Test provider</title></head>
<body><h1>Test provider sign-in</h1><p>${message}</p>
<form method="post" action="/interaction/${uid}">
<label for="login">User</label> <input id="login" name="login" autofocus>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="deny">Deny</button></form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function finish(req, res, details, sub) {
  const u = users()[sub];
  const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const login = { accountId: sub };
  if (u && u.amr) login.amr = u.amr;
  if (u && u.acr) login.acr = u.acr;
  await provider.interactionFinished(req, res, { login, consent: { grantId } }, {
    mergeWithLastSubmission: false,
  });
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    if (details.prompt.name === 'consent' && details.session) {
      return finish(req, res, details, details.session.accountId);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page(details.uid, 'Who are you?'));
  }
  const form = await readForm(req);
  if (form.get('action') === 'deny') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'The user denied the request',
    }, { mergeWithLastSubmission: false });
  }
  const sub = form.get('login') || '';
  if (!users()[sub]) {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page(details.uid, 'No such user.'));
  }
  return finish(req, res, details, sub);
}

await boot();
server.on('request', async (req, res) => {
  try {
    const path = req.url.split('?')[0];
    if (path === '/.well-known/openid-configuration') counts.discovery += 1;
    if (path === '/jwks') counts.jwks += 1;
    if (path === '/token') counts.token += 1;
    if (path === '/me') counts.userinfo += 1;
    if (path === '/test/counts') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(counts));
    }
    if (path === '/test/rotate' && req.method === 'POST') {
      await boot();
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ kid: jwk.kid }));
    }
    if (req.url === '/test/tamper' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      tamper = JSON.parse(body);
      res.writeHead(204);
      return res.end();
    }
    if (req.url.startsWith('/interaction/')) return await interaction(req, res);
    return callback(req, res);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(e));
  }
});

process.stdout.write(JSON.stringify({ issuer }) + '\n');
