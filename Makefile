# The test command of the README: installs what the interop tests need,
# then vets and runs every test with the race detector (l7 both ways).
.PHONY: test build bench fmt

test:
	./scripts/test-deps.sh
	go vet ./...
	go test -race -timeout 15m ./...
	# l7 again with every connection on the goroutine path (the suite
	# above runs it on the event loops).
	L7_PATH=goroutine go test -race -timeout 10m ./l7/

build:
	go build -o bin/ ./cmd/...

bench:
	./bench/run.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
