package oauthsdk

// Agent sessions against the real stack (`nexus dev`): an agent created through the broker's
// admin API starts a session with its credential, resolves with the session token, checks
// scopes, and closes it. Skipped without the binary unless NEXUS_REQUIRE_STACK=1.

import (
	"context"
	"testing"
	"time"
)

func TestSessionAgainstNexusDev(t *testing.T) {
	nexusBin := binaryPath(t, "NEXUS_BIN", "../target/debug/nexus")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := startNexusDev(t, nexusBin)
	admin := adminClient{t: t, base: env["NEXUS_BROKER_URL"], token: env["NEXUS_ADMIN_TOKEN"]}
	ws := env["NEXUS_WORKSPACE_ID"]

	secret := "sk-session-" + randomHex(t)
	admin.post("/admin/v1/providers", map[string]any{
		"name": "echo", "auth_type": "api_key", "api_base_url": "http://127.0.0.1:9",
		"strategy": map[string]any{"type": "header", "config": map[string]any{"header_name": "X-API-Key"}},
	}, nil)
	admin.post("/admin/v1/workspaces/"+ws+"/connections/import",
		map[string]any{"provider_name": "echo", "kind": "api_key", "secret": secret}, nil)
	var agent struct {
		AgentID         string `json:"agent_id"`
		AgentCredential string `json:"agent_credential"`
	}
	admin.post("/admin/v1/workspaces/"+ws+"/agents",
		map[string]any{"name": "go-sdk-e2e", "scopes": []string{"provider:echo", "tickets:read"}}, &agent)
	if agent.AgentID == "" || agent.AgentCredential == "" {
		t.Fatalf("agent creation answered %+v", agent.AgentID)
	}

	nexus := New(env["NEXUS_GATEWAY_URL"], WithAPIKey(env["NEXUS_API_KEY"]))
	if _, err := nexus.StartSession(ctx, []string{"provider:nope"}, 0, WithAgentCredential(agent.AgentCredential)); !hasCode(err, CodeScopeNotAllowed) {
		t.Fatalf("undeclared scope: %v", err)
	}
	s, err := nexus.StartSession(ctx, []string{"provider:echo"}, 5*time.Minute, WithAgentCredential(agent.AgentCredential))
	if err != nil {
		t.Fatal(err)
	}
	if s.AgentID != agent.AgentID || s.Sub != agent.AgentID || len(s.Scopes) != 1 || s.ExpiresIn <= 0 || s.ExpiresIn > 300 {
		t.Fatalf("session %+v", s)
	}
	cache := NewTokenCache(30 * time.Second)
	cred, err := nexus.GetCachedToken(ctx, cache, ws, "echo")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cred.Field("api_key"); v.Reveal() != secret {
		t.Fatal("the session resolved another credential")
	}
	if cred.ScopeEnforcement != "advisory" {
		t.Fatalf("a session resolve reports scope enforcement, got %q", cred.ScopeEnforcement)
	}
	if ok, err := nexus.Authorize(ctx, "provider:echo"); err != nil || !ok.Allowed || ok.SessionID != s.SessionID {
		t.Fatalf("authorize: %+v %v", ok, err)
	}
	if _, err := nexus.Authorize(ctx, "tickets:read"); !hasCode(err, CodeScopeNotAllowed) {
		t.Fatalf("a declared but not requested scope: %v", err)
	}
	if err := nexus.CloseSession(ctx); err != nil {
		t.Fatal(err)
	}
	// The plain API key resolves again, without scope enforcement.
	plain, err := nexus.GetCachedToken(ctx, cache, ws, "echo")
	if err != nil || plain.ScopeEnforcement != "" {
		t.Fatalf("after close: %+v %v", plain, err)
	}
	// The revoked session's token is refused at once.
	revoked := New(env["NEXUS_GATEWAY_URL"], WithAPIKey(s.Token.Reveal()))
	if _, err := revoked.ResolveToken(ctx, ws, "echo"); !hasCode(err, CodeUnauthorized) {
		t.Fatalf("revoked session token: %v", err)
	}
}
