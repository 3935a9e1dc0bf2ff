package oauthsdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// startExampleServers starts a stand-in gateway (handing out a GitHub token) and a stand-in
// GitHub API (answering with the Authorization header it received), both on 127.0.0.1.
func startExampleServers() (gateway, github *httptest.Server) {
	gateway = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("provider_name") != "github" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"provider_not_found","message":"no such provider"}`)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"gho_example","token_type":"Bearer","expires_in":3600,
			"strategy":{"type":"oauth2"},"credentials":{"access_token":"gho_example"},"scopes":["repo"]}`)
	}))
	github = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"you_sent": r.Header.Get("Authorization")})
	}))
	return gateway, github
}

// An MCP server calls GitHub with a credential from Nexus. The gateway URL and API key would
// come from the environment (NEXUS_GATEWAY_URL, NEXUS_API_KEY).
func Example() {
	gateway, github := startExampleServers()
	defer gateway.Close()
	defer github.Close()

	nexus := oauthsdk.New(gateway.URL, oauthsdk.WithAPIKey("nx_example_key"))
	cache := oauthsdk.NewTokenCache(30 * time.Second)
	gh := nexus.AuthenticatedHTTPClient(cache, "ws_demo", "github")

	resp, err := gh.Get(github.URL + "/user/repos?per_page=10")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))

	// Errors are typed: a provider the workspace has not configured.
	_, err = nexus.ResolveToken(context.Background(), "ws_demo", "gitlab")
	var nexusErr *oauthsdk.Error
	if errors.As(err, &nexusErr) {
		fmt.Println(nexusErr.Code, nexusErr.StatusCode)
	}
	// Output:
	// {"you_sent":"Bearer gho_example"}
	// provider_not_found 404
}

// ParseStrategy validates a wire strategy and fills in its defaults, exactly as the Rust core.
func ExampleParseStrategy() {
	strategy, err := oauthsdk.ParseStrategy(oauthsdk.StrategySpec{
		Type:   "header",
		Config: map[string]any{"header_name": "X-API-Key"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strategy.Kind, strategy.HeaderName, fmt.Sprintf("%q", strategy.ValuePrefix), strategy.RequiredFields())

	_, err = oauthsdk.ParseStrategy(oauthsdk.StrategySpec{Type: "magic"})
	fmt.Println(err)
	// Output:
	// header X-API-Key "" [api_key]
	// nexus: unknown_strategy: unknown strategy type "magic"
}
