package grpccreds

import (
	"context"
	"testing"
)

// BenchmarkGetRequestMetadata is the per-call cost on a warm cache: cache hit, strategy
// applied, metadata built.
func BenchmarkGetRequestMetadata(b *testing.B) {
	gw := newGateway(b)
	creds := newCreds(gw)
	ctx := context.Background()
	if _, err := creds.GetRequestMetadata(ctx, "https://127.0.0.1:1/svc"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := creds.GetRequestMetadata(ctx, "https://127.0.0.1:1/svc"); err != nil {
			b.Fatal(err)
		}
	}
}
