module github.com/dromos/nexus/sdk-go/bridge

go 1.23

replace github.com/dromos/nexus/sdk-go => ../

require github.com/dromos/nexus/sdk-go v0.0.0-00010101000000-000000000000

require github.com/coder/websocket v1.8.15
