# The test command of the README: installs what the interop tests need,
# then vets and runs every test with the race detector.
.PHONY: test build bench fmt

test:
	./scripts/test-deps.sh
	go vet ./...
	go test -race -timeout 15m ./...

build:
	go build -o bin/ ./cmd/...

bench:
	./bench/run.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
