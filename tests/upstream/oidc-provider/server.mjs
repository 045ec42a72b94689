// A throwaway OpenID Provider for oxidex's `oidc` and `oauth` connector tests: panva's
// certified `oidc-provider`, configured from a JSON file the test writes.
//
//   node server.mjs CONFIG.json
//
// Prints `READY <issuer>` on stdout once it listens; errors go to stderr. See README.md for
// the config format and for the pages the Rust driver clicks through.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node server.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const { port, issuer } = config;
const clients = config.clients ?? [];
const accounts = config.accounts ?? {};

// Signing keys, fresh for every run: one RSA key (RS256, PS256) and one P-256 key (ES256), so
// each client can pick its id_token_signed_response_alg.
function signingKey(type, options, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'rsa-1'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ec-1'),
  ],
};

// Which claims each scope releases. Claims an account has beyond the standard ones (and beyond
// `sub` and `password`, which are never released as claims) ride along with `profile`.
const PROFILE = ['name', 'family_name', 'given_name', 'middle_name', 'nickname',
  'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo',
  'locale', 'updated_at'];
const EMAIL = ['email', 'email_verified'];
const GROUPS = ['groups'];
const NOT_CLAIMS = new Set(['sub', 'password']);
const extra = new Set();
for (const claims of Object.values(accounts)) {
  for (const name of Object.keys(claims)) {
    if (!NOT_CLAIMS.has(name) && !PROFILE.includes(name) && !EMAIL.includes(name)
      && !GROUPS.includes(name)) {
      extra.add(name);
    }
  }
}

// Accounts are keyed by login name; oidc-provider keys its sessions and grants by account id
// and always releases that id as `sub`, so the account id is the account's `sub` claim (the
// login name when the account has none) and the login form's name is translated below.
const subOf = (login) => accounts[login].sub ?? login;
const bySub = new Map(Object.keys(accounts).map((login) => [subOf(login), accounts[login]]));

async function findAccount(_ctx, sub) {
  const claims = bySub.get(sub);
  if (!claims) return undefined;
  return {
    accountId: sub,
    async claims() {
      const { password: _password, ...released } = claims;
      return { ...released, sub };
    },
  };
}

// Explicit lifetimes (oidc-provider's defaults; it nags about the default functions), then the
// test's overrides.
const ttl = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  IdToken: 3600,
  RefreshToken: 14 * 24 * 3600,
  Interaction: 3600,
  Session: 14 * 24 * 3600,
  Grant: 14 * 24 * 3600,
  ...Object.fromEntries(
    Object.entries(config.ttl ?? {}).map(([name, seconds]) => [name, Number(seconds)]),
  ),
};

const provider = new Provider(issuer, {
  clients,
  jwks,
  findAccount,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: [...PROFILE, ...extra],
    email: EMAIL,
    groups: GROUPS,
  },
  // Release the scope claims in the ID token too, not only at userinfo (the default follows
  // OIDC Core 5.4 and keeps them out of an ID token that comes with an access token).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // The default already issues a refresh token whenever the client may use the refresh_token
  // grant and offline_access was granted; spelled out so that stays true across versions.
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  // PKCE: required only for public clients (the default); confidential clients may send it.
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  ttl,
  renderError(ctx, out, error) {
    console.error('oidc-provider: render error:', out, error?.stack ?? error);
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><body><h1>oops! something went wrong</h1><pre>${
      JSON.stringify(out, null, 2).replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}</pre></body></html>`;
  },
});

// devInteractions accept any login name and password, and make the login name the account id.
// In front of their submit handler: refuse a login name that is not an account, and a wrong
// password when the account has one; then hand on the form with the login name replaced by the
// account's `sub`. The form goes on through `ctx.req.body`, which oidc-provider's body parser
// reads when the request stream is already consumed (it warns once that it does).
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)
    && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const form = querystring.parse(Buffer.concat(chunks).toString('utf8'));
    if (form.prompt === 'login') {
      const account = Object.hasOwn(accounts, form.login) ? accounts[form.login] : undefined;
      const ok = account !== undefined
        && (account.password === undefined || account.password === form.password);
      if (!ok) {
        console.error(`oidc-provider: refused login ${JSON.stringify(form.login)}`);
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = '<!DOCTYPE html><html><body><h1>Sign-in failed</h1><p>invalid login or password</p></body></html>';
        return;
      }
      form.login = subOf(form.login);
    }
    ctx.req.body = querystring.stringify(form);
  }
  await next();
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error',
  'end_session.error', 'backchannel.error', 'pushed_authorization_request.error']) {
  provider.on(event, (ctx, error) => {
    const detail = error?.error_description ? ` (${error.error_description})` : '';
    console.error(`oidc-provider: ${event}: ${error?.message ?? error}${detail}`);
    if (event === 'server_error') console.error(error?.stack);
  });
}

// Whoever reads our output may go away first; a write to a closed pipe must not crash us.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => {});
}

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
server.on('error', (error) => {
  console.error('oidc-provider: listen failed:', error);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
