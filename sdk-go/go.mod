module github.com/dromos/nexus/sdk-go

go 1.22
