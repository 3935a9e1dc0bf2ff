// A real OpenID provider on loopback for the browser tests: `oidc-provider` (OpenID Certified),
// with its development login and consent pages, PKCE required, refresh tokens and RFC 7009
// revocation. Started by scripts/test.d/55-browser.sh after `nexus dev`, because the client's
// redirect URI names the broker: NEXUS_BROKER_URL, OIDC_CLIENT_SECRET (client `nexus`, connections)
// and OIDC_LOGIN_CLIENT_SECRET (client `nexus-login`, browser sign-in to Nexus) come from the
// environment.
//
// stdout carries exactly one line, `{"ready":true,"url":…,"issuer":…}`, once the server accepts
// connections (the script waits for it); everything else goes to stderr.
//
// Test-only routes under /_control/ on the same loopback server (oidc-provider owns every other
// path): `GET /_control/stats` → `{grants_revoked, refresh_tokens: {sub: live count}}`, so a spec can
// see that a disconnect reached the provider without ever holding a refresh token itself.
import http from 'node:http';
import Provider from 'oidc-provider';

// oidc-provider prints its development notices with console.info, which is stdout: keep stdout
// for the ready line.
console.info = (...args) => console.error(...args);

const broker = process.env.NEXUS_BROKER_URL;
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const loginSecret = process.env.OIDC_LOGIN_CLIENT_SECRET;
if (!broker || !clientSecret || !loginSecret) {
  console.error('oidc server: NEXUS_BROKER_URL, OIDC_CLIENT_SECRET and OIDC_LOGIN_CLIENT_SECRET must be set');
  process.exit(2);
}

// In-memory storage that the control routes can read (oidc-provider's own development adapter
// cannot be enumerated). One Map per model name; expiry is checked on read.
const stores = new Map();
class MapAdapter {
  constructor(name) {
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, expiresAt });
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [id, entry] of this.store) if (entry.payload.uid === uid) return this.find(id);
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, entry] of this.store) if (entry.payload.userCode === userCode) return this.find(id);
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [id, entry] of this.store) if (entry.payload.grantId === grantId) this.store.delete(id);
  }
}

/** Live (unexpired, unconsumed) refresh tokens per subject. */
function liveRefreshTokens() {
  const counts = {};
  const now = Date.now();
  for (const entry of (stores.get('RefreshToken') || new Map()).values()) {
    if (entry.expiresAt <= now || entry.payload.consumed) continue;
    counts[entry.payload.accountId] = (counts[entry.payload.accountId] || 0) + 1;
  }
  return counts;
}

// The port comes first: the issuer, and so every URL the provider publishes, contains it.
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const oidc = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'nexus',
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [`${broker}/oauth/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }, {
    // The client people sign in to Nexus with (`nexus idp add --login-client-id nexus-login`):
    // the authorization server's login and the operators' console.
    client_id: 'nexus-login',
    client_secret: loginSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [`${broker}/as/login/callback`, `${broker}/console/login/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  // Without this, oidc-provider only issues a refresh token for `offline_access` + prompt=consent.
  issueRefreshToken: async () => true,
  // `groups` rides on the openid scope; with conformIdTokenClaims off the id_token carries the
  // scope's claims (the console's allow rule reads `groups` and a verified `email` from it).
  claims: { openid: ['sub', 'groups'], profile: ['name'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false,
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      name: `Test user ${sub}`,
      email: `${sub}@example.test`,
      email_verified: true,
      groups: sub === 'ops' ? ['staff', 'nexus-ops'] : ['staff'],
    }),
  }),
});

// RFC 7009 revocation of a refresh token destroys it and (revokeGrantPolicy's default) its grant.
let grantsRevoked = 0;
oidc.on('grant.revoked', () => { grantsRevoked += 1; });
oidc.on('server_error', (_ctx, err) => console.error('oidc server error:', err));

const handle = oidc.callback();
server.on('request', (req, res) => {
  if (req.url === '/_control/stats' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ grants_revoked: grantsRevoked, refresh_tokens: liveRefreshTokens() }));
    return;
  }
  handle(req, res);
});

// The broker keeps connections alive in its pool; drop them so the process ends at once.
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(JSON.stringify({ ready: true, url: issuer, issuer }));
