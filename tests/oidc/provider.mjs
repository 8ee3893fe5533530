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

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: cfg.clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  })),
  jwks: { keys: [jwk] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
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
provider.use(async (ctx, next) => {
  await next();
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
});

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

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
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
